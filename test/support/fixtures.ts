import type { DynamicModule, Provider, Type } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import {
  JOBS_ENTITIES,
  JOBS_MIGRATIONS,
  JobsModule,
  JobsService,
  type JobsModuleOptions,
} from 'nestjs-typeorm-jobs';
import { JobStore } from '../../lib/storage/job.store.js';
import type { Backend } from './backends.js';

const cleaners = new Map<string, Promise<DataSource>>();

/**
 * Options of an empty database for one test: a new file on SQLite; on a server, the worker's
 * database with the module's tables emptied.
 */
export async function freshDatabase(backend: Backend): Promise<DataSourceOptions> {
  const options = await backend.options();
  if (backend.name === 'sqlite') return options;
  const key = JSON.stringify(options);
  let cleaner = cleaners.get(key);
  if (!cleaner) {
    cleaner = new DataSource({
      ...options,
      entities: JOBS_ENTITIES,
      migrations: JOBS_MIGRATIONS,
      migrationsRun: true,
      dropSchema: true,
    }).initialize();
    cleaners.set(key, cleaner);
  }
  const source = await cleaner;
  await source.query('DELETE FROM nest_jobs');
  await source.query('DELETE FROM nest_job_kinds');
  await source.query('DELETE FROM nest_job_queues');
  await source.query('DELETE FROM nest_job_starts');
  await source.query('DELETE FROM nest_job_groups');
  await source.query('DELETE FROM nest_job_permits');
  await source.query('DELETE FROM nest_job_deps');
  await source.query('DELETE FROM nest_job_batches');
  return options;
}

/**
 * A JobStore on a fresh database whose tables its migrations made, for suites that drive the
 * storage step by step (no app); `kinds` are registered. Destroy `source` in `afterAll`.
 */
async function storeOnFreshDatabase(
  backend: Backend,
  kinds: string[],
): Promise<{ source: DataSource; store: JobStore }> {
  const source = await new DataSource({
    ...(await freshDatabase(backend)),
    entities: JOBS_ENTITIES,
    migrations: JOBS_MIGRATIONS,
    migrationsRun: true,
  }).initialize();
  const store = new JobStore(source);
  await store.upsertKinds(kinds);
  return { source, store };
}

/**
 * In a describe block: a JobStore on a fresh database (storeOnFreshDatabase) made before its tests
 * and closed after them; read `store` and `source` inside the tests.
 */
export function freshStore(
  backend: Backend,
  kinds: string[],
): { source: DataSource; store: JobStore } {
  const held = {} as { source: DataSource; store: JobStore };
  beforeAll(async () => {
    Object.assign(held, await storeOnFreshDatabase(backend, kinds));
  });
  afterAll(async () => {
    await held.source?.destroy();
  });
  return held;
}

/** Closes the connections `freshDatabase` keeps; call in `afterAll`. */
export async function closeCleaners(): Promise<void> {
  for (const cleaner of cleaners.values()) await (await cleaner).destroy();
  cleaners.clear();
}

export interface AppSpec {
  database: DataSourceOptions;
  providers?: Provider[];
  jobs?: JobsModuleOptions;
  imports?: Array<Type | DynamicModule>;
  /** Replaces `JobsModule.forRoot(jobs)`. */
  jobsModule?: DynamicModule;
}

/** A Nest application context like a user's: TypeORM + JobsModule + handler providers, initialised. */
export async function startApp(spec: AppSpec): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({
        ...spec.database,
        autoLoadEntities: true,
        synchronize: true,
        retryAttempts: 0,
      } as never),
      spec.jobsModule ?? JobsModule.forRoot({ pollInterval: 50, ...spec.jobs }),
      ...(spec.imports ?? []),
    ],
    providers: spec.providers ?? [],
  })
    .setLogger(quietLogger)
    .compile();
  try {
    await moduleRef.init();
  } catch (error) {
    await moduleRef.close().catch(() => undefined); // a failed start must not leave its pool open
    throw error;
  }
  return moduleRef;
}

/** Starts an app (see `startApp`), gives it to `use`, and closes it whatever happens. */
export async function withApp<T>(
  spec: AppSpec,
  use: (app: TestingModule) => Promise<T>,
): Promise<T> {
  const app = await startApp(spec);
  try {
    return await use(app);
  } finally {
    await app.close();
  }
}

/** Polls `check` until it returns a truthy value (returned) or the time is up (throws its last state). */
type Falsy = null | undefined | false | 0 | '';

export async function waitFor<T>(
  check: () => Promise<T | Falsy> | T | Falsy,
  what = 'condition',
  timeout = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeout;
  let last: T | Falsy;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline)
      throw new Error(`Timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until the job reaches one of the statuses and returns it. */
export async function waitForStatus(app: TestingModule, id: number, ...statuses: string[]) {
  const jobs = app.get(JobsService);
  return waitFor(
    async () => {
      const job = await jobs.get(id);
      return job && statuses.includes(job.status) ? job : null;
    },
    `job ${id} to be ${statuses.join(' or ')}`,
  );
}

/** Swallows Nest's logs in tests, but keeps errors visible. */
export const quietLogger = {
  log: () => undefined,
  warn: () => undefined,
  debug: () => undefined,
  verbose: () => undefined,
  error: (...args: unknown[]) =>
    process.env.JOBS_TEST_VERBOSE ? console.error(...args) : undefined,
};
