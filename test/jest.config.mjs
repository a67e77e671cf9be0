/** Jest in ESM mode (Nest 12 is ESM-only), TypeScript compiled by SWC; types are checked by `tsc --noEmit`. */
// Two phases: the suites (test/ *.spec.ts), and with JOBS_TEST_PHASE=fault the fault suites
// (test/fault/ *.fault.ts: real worker processes, run in band by test/run-tests.mjs).
import { fileURLToPath } from 'node:url';

const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    target: 'es2022',
  },
  module: { type: 'es6' },
  sourceMaps: 'inline',
};

const fault = process.env.JOBS_TEST_PHASE === 'fault';

export default {
  rootDir: fileURLToPath(new URL('..', import.meta.url)),
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', swc] },
  moduleNameMapper: {
    '^nestjs-typeorm-jobs$': '<rootDir>/lib/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testMatch: fault ? ['<rootDir>/test/fault/**/*.fault.ts'] : ['<rootDir>/test/**/*.spec.ts'],
  testTimeout: fault ? 300_000 : 60_000,
  // Jest's default on a 2-core machine is one worker: the suites mostly wait on databases, timers and
  // child processes, and each jest worker has a database of its own (test/support/backends.ts), so
  // four run side by side (with three, CI's main phase kept its workers busy at ~70% of the CPU).
  // The fault phase runs in band (test/run-tests.mjs).
  maxWorkers: fault ? 1 : 4,
  // Suites that start processes first: jest's own order needs timings a fresh clone has not got.
  testSequencer: fileURLToPath(new URL('./jest.sequencer.mjs', import.meta.url)),
  // Pools of apps whose start failed on purpose can outlive a file by a moment; never hang CI on them.
  forceExit: true,
};
