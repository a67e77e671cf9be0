/**
 * The suites against the older majors: Nest 11, @nestjs/typeorm 11, @nestjs/schedule 6 and TypeORM
 * 0.3, installed apart in test/compat/nest11/ (`npm ci --prefix test/compat/nest11`). The package's own
 * jest config, with every import of those packages (from the suites, the fixtures and lib/)
 * redirected to test/compat/nest11/node_modules. The database drivers stay the root's.
 *
 *   node --experimental-vm-modules node_modules/jest/bin/jest.js -c test/compat/jest.nest11.config.mjs
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import base from '../jest.config.mjs';

const modules = fileURLToPath(new URL('./nest11/node_modules/', import.meta.url));
if (!existsSync(`${modules}@nestjs/core`)) {
  throw new Error(
    'test/compat/nest11 is not installed: run `npm ci --prefix test/compat/nest11` first.',
  );
}

/**
 * Every suite runs against Nest 11 except those that load dist/ in child processes or a browser
 * (they resolve @nestjs/* from the root node_modules, Nest 12, which no jest mapping reaches), and
 * a few that exercise no Nest or TypeORM API of their own (below).
 */
export const NOT_ON_NEST11 = [
  'cli',
  'cli-postgres',
  'cli-mariadb',
  'cli-schedules',
  'cli-queues',
  'cancel.processes',
  'limits.processes',
  'flows.processes',
  'sample-app.e2e',
  'dashboard.browser',
  // @nestjs/platform-fastify 12 needs Nest 12; the Nest 11 packages have no Fastify adapter.
  'dashboard-fastify',
  // The runner's own logic over statements the suites left here run too (storage, schema,
  // migrations, transactions, flows, run control, module wiring, schedules, dashboard, events): a
  // pure function (one run's rules), timers and a file watch, claiming ahead, several instances,
  // leases, limits and permits, retries and run options, retention, hostile input, unhandled kinds.
  // No Nest or TypeORM API of their own; kept to the main phase, for CI's time (the whole suite is
  // CPU-bound on two cores: these were about 190 s of this phase's worker time).
  'job-execution',
  'wake-timer',
  'sqlite-watch',
  'prefetch',
  'cluster',
  'leases',
  'limits',
  'kind-permits',
  'runner-hardening',
  'hostile-input',
  'run-options',
  'retention',
  'unhandled-kinds',
];

export default {
  ...base,
  rootDir: fileURLToPath(new URL('../..', import.meta.url)),
  moduleNameMapper: {
    '^@nestjs/(common|core|typeorm|schedule|testing|event-emitter|platform-express)(/.*)?$': `${modules}@nestjs/$1$2`,
    '^typeorm(/.*)?$': `${modules}typeorm$1`,
    '^rxjs(/.*)?$': `${modules}rxjs$1`,
    '^reflect-metadata$': `${modules}reflect-metadata`,
    ...base.moduleNameMapper,
  },
  testMatch: ['<rootDir>/test/*.spec.ts'],
  // Three workers here (the main phase's four made this phase slower: 163 s against 134 s in CI).
  maxWorkers: 3,
  testPathIgnorePatterns: [
    '/node_modules/',
    ...NOT_ON_NEST11.map((name) => `/test/${name}\\.spec\\.ts$`),
  ],
};
