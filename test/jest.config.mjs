/** Jest in ESM mode (Nest 12 is ESM-only), TypeScript compiled by SWC; types are checked by `tsc --noEmit`. */
// Two phases: the suites (test/ *.spec.ts), and with JOBS_TEST_PHASE=fault the fault suites
// (test/fault/ *.fault.ts: real worker processes, run in band by test/run-tests.mjs).
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
  rootDir: '..',
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', swc] },
  moduleNameMapper: {
    '^nestjs-typeorm-jobs$': '<rootDir>/lib/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testMatch: fault ? ['<rootDir>/test/fault/**/*.fault.ts'] : ['<rootDir>/test/**/*.spec.ts'],
  testTimeout: fault ? 300_000 : 60_000,
  // Pools of apps whose start failed on purpose can outlive a file by a moment; never hang CI on them.
  forceExit: true,
};
