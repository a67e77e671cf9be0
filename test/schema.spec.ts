import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import {
  InvalidJobsOptionError,
  JOBS_ENTITIES,
  JobKind,
  JobKindEntity,
  JobsEntitiesMissingError,
  JobsModule,
  JobsSchemaMissingError,
  JobsService,
  type JobContext,
  type JobsModuleOptions,
} from 'nestjs-typeorm-jobs';
import { backends, describeBackends, recreateDatabase, type Backend } from './support/backends.js';
import { quietLogger, startApp, waitFor, waitForStatus } from './support/fixtures.js';
import { JOBS_SCHEMA_STEPS, type SchemaStep } from '../lib/migrations/jobs-schema.steps.js';
import { prepareJobsSchema } from '../lib/storage/schema.js';
import { resolveJobsOptions } from '../lib/jobs.module-definition.js';
import { uniqueKeyOf } from '../lib/jobs.payload.js';

/** The key `enqueue('schema.echo', { n: 3, text: 'keyed' }, { unique: true })` holds. */
const KEYED = uniqueKeyOf('schema.echo', true, JSON.stringify({ n: 3, text: 'keyed' }));

/**
 * The module's tables are its own: TypeORM's synchronize never touches them (under `type: 'mysql'`
 * on MariaDB it used to drop and re-add the JSON columns at every start, nulling every payload), and
 * the module creates them at startup, once, however many instances start together.
 */

const worker = process.env.JEST_WORKER_ID ?? '1';
let databases = 0;

/** A new, empty database of this backend, of its own (never shared with other suites). */
async function emptyDatabase(backend: Backend): Promise<DataSourceOptions> {
  const options = (await backend.options()) as DataSourceOptions & { url?: string };
  if (backend.name === 'sqlite') return options;
  const name = `${process.env.JOBS_TEST_DB_PREFIX ?? 'jobs_test'}_schema_w${worker}_${++databases}`;
  const database = await recreateDatabase(backend.name, options.url!, name);
  return { ...options, type: database.type, url: database.url } as DataSourceOptions;
}

@Injectable()
class Echo {
  @JobKind('schema.echo')
  echo({ data }: JobContext<{ n: number; text: string }>) {
    return data;
  }
}

/** An app as a user writes it: synchronize on, entities loaded by the module. */
function app(database: DataSourceOptions, jobs: JobsModuleOptions = {}): Promise<TestingModule> {
  return startApp({ database, providers: [Echo], jobs: { runner: false, ...jobs } });
}

async function tablesNamed(source: DataSource, backend: Backend): Promise<number> {
  const [{ n }] = await source.query(
    backend.name === 'sqlite'
      ? `SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('nest_jobs', 'nest_job_kinds', 'nest_job_queues')`
      : `SELECT COUNT(*) AS n FROM information_schema.tables
         WHERE table_schema = ${backend.name === 'postgres' ? 'current_schema()' : 'DATABASE()'}
           AND table_name IN ('nest_jobs', 'nest_job_kinds', 'nest_job_queues')`,
  );
  return Number(n);
}

async function withSource<T>(
  database: DataSourceOptions,
  work: (source: DataSource) => Promise<T>,
): Promise<T> {
  const source = new DataSource(database);
  await source.initialize();
  try {
    return await work(source);
  } finally {
    await source.destroy();
  }
}

it("takes schema: 'auto' or 'migrations' and nothing else", () => {
  expect(resolveJobsOptions({}).schema).toBe('auto');
  expect(resolveJobsOptions({ schema: 'migrations' }).schema).toBe('migrations');
  expect(() => resolveJobsOptions({ schema: 'manual' as never })).toThrow(InvalidJobsOptionError);
});

describeBackends('schema', (backend) => {
  it('creates the tables once when several instances start together on an empty database', async () => {
    for (let round = 0; round < 3; round++) {
      const database = await emptyDatabase(backend);
      const apps = await Promise.all([app(database), app(database), app(database)]);
      try {
        expect(await withSource(database, (source) => tablesNamed(source, backend))).toBe(3);
        const job = await apps[0].get(JobsService).enqueue('schema.echo', { n: round, text: '' });
        expect(await apps[2].get(JobsService).get(job.id)).toMatchObject({ data: { n: round } });
      } finally {
        await Promise.all(apps.map((started) => started.close()));
      }
    }
  });

  it("with schema: 'migrations', refuses to start on missing tables, naming the migration", async () => {
    const database = await emptyDatabase(backend);
    const starting = app(database, { schema: 'migrations' });
    await expect(starting).rejects.toBeInstanceOf(JobsSchemaMissingError);
    await expect(starting).rejects.toMatchObject({
      migration: 'JobsSchema1795478400000',
      message: expect.stringContaining('JOBS_MIGRATIONS'),
    });
    expect(await withSource(database, (source) => tablesNamed(source, backend))).toBe(0);
  });

  it('says what to add when the entities are listed by hand without JOBS_ENTITIES', async () => {
    const database = await emptyDatabase(backend);
    const start = (entities: unknown[]) =>
      Test.createTestingModule({
        imports: [
          TypeOrmModule.forRoot({
            ...database,
            entities,
            synchronize: true,
            retryAttempts: 0,
          } as never),
          JobsModule.forRoot({ runner: false }),
        ],
        providers: [Echo],
      })
        .setLogger(quietLogger)
        .compile()
        .then(async (moduleRef) => {
          try {
            return await moduleRef.init();
          } finally {
            await moduleRef.close();
          }
        });
    await expect(start([])).rejects.toThrow(JobsEntitiesMissingError);
    await expect(start([])).rejects.toMatchObject({
      entities: ['JobEntity', 'JobKindEntity'],
      message: expect.stringContaining('entities: [...yourEntities, ...JOBS_ENTITIES]'),
    });
    await expect(start([JobKindEntity])).rejects.toMatchObject({ entities: ['JobEntity'] });
    await expect(start([])).rejects.toThrow(/autoLoadEntities: true/);
    // (JobEntity without JobKindEntity fails earlier, in TypeORM, naming JobEntity#kindRef.)
    expect(await withSource(database, (source) => tablesNamed(source, backend))).toBe(0);
  });
});

describeBackends('schema upgrades', (backend) => {
  /** A later release's step: a column, in place when the column is. */
  const column = (migration: string, name: string): SchemaStep => ({
    migration,
    applied: (runner) => runner.hasColumn('nest_jobs', name),
    sql: {
      postgres: { up: [`ALTER TABLE nest_jobs ADD COLUMN ${name} integer`], down: [] },
      mysql: { up: [`ALTER TABLE nest_jobs ADD COLUMN ${name} integer`], down: [] },
      sqlite: { up: [`ALTER TABLE nest_jobs ADD COLUMN ${name} integer`], down: [] },
    },
  });

  it('applies the steps a database lacks, in order, once; with migrations, names the first missing', async () => {
    const database = await emptyDatabase(backend);
    await (await app(database)).close();
    const later = [
      ...JOBS_SCHEMA_STEPS,
      column('Later1', 'later_one'),
      column('Later2', 'later_two'),
    ];
    await withSource({ ...database, entities: JOBS_ENTITIES }, async (source) => {
      await expect(prepareJobsSchema(source, 'migrations', later)).rejects.toMatchObject({
        migration: 'Later1',
      });
      await prepareJobsSchema(source, 'auto', later.slice(0, JOBS_SCHEMA_STEPS.length + 1));
      await prepareJobsSchema(source, 'auto', later);
      await prepareJobsSchema(source, 'auto', later); // in place: nothing to do
      await prepareJobsSchema(source, 'migrations', later);
      const runner = source.createQueryRunner();
      try {
        expect(await runner.hasColumn('nest_jobs', 'later_one')).toBe(true);
        expect(await runner.hasColumn('nest_jobs', 'later_two')).toBe(true);
      } finally {
        await runner.release();
      }
    });
  });

  it("brings tables of an earlier release up to date at startup, keeping their jobs (or, with 'migrations', names the step)", async () => {
    const database = await emptyDatabase(backend);
    const [first] = JOBS_SCHEMA_STEPS;
    await withSource({ ...database, entities: JOBS_ENTITIES }, async (source) => {
      await prepareJobsSchema(source, 'auto', [first]);
      await source.query(
        `INSERT INTO nest_jobs (kind, queue, data, status, run_at, max_attempts, created)
         VALUES ('schema.echo', 'default', '{"n":1,"text":"before the upgrade"}', 'pending', 0, 5, 0)`,
      );
      // A unique job, due in 2100: its key must still be held once the key's index has changed.
      await source.query(
        `INSERT INTO nest_jobs (kind, queue, data, status, run_at, max_attempts, created, unique_key, active_key)
         VALUES ('schema.echo', 'default', '{"n":3,"text":"keyed"}', 'pending', 4102444800000, 5, 0, '${KEYED}', '${KEYED}')`,
      );
    });
    await expect(app(database, { schema: 'migrations' })).rejects.toMatchObject({
      migration: 'JobsRunOptions1796169600000',
    });
    const upgraded = await app(database, { runner: true });
    try {
      const jobs = upgraded.get(JobsService);
      const [old, keyed] = await jobs.list({ order: 'oldest' });
      expect(keyed).toMatchObject({ uniqueKey: KEYED, status: 'pending' });
      expect(await waitForStatus(upgraded, old.id, 'succeeded')).toMatchObject({
        result: { n: 1, text: 'before the upgrade' },
      });
      const job = await jobs.enqueue('schema.echo', { n: 2, text: '' }, { timeout: 900 });
      expect(await jobs.get(job.id)).toMatchObject({ timeout: 900 });
      // The last steps too: the due index holds pending jobs only (PostgreSQL, SQLite); on
      // PostgreSQL a partial unique index of the keyed jobs holds the keys (the constraint is gone).
      const source = upgraded.get<DataSource>(getDataSourceToken());
      const runner = source.createQueryRunner();
      try {
        for (const step of JOBS_SCHEMA_STEPS.slice(-2))
          expect(await step.applied(runner)).toBe(true);
      } finally {
        await runner.release();
      }
      const again = { n: 3, text: 'keyed' };
      expect((await jobs.enqueue('schema.echo', again, { unique: true, delay: '1h' })).id).toBe(
        keyed.id,
      );
      if (backend.name === 'postgres') {
        expect(
          await source.query(
            `SELECT conname FROM pg_constraint WHERE conrelid = 'nest_jobs'::regclass AND contype = 'u'`,
          ),
        ).toEqual([]);
        const [index] = await source.query(
          `SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_nest_jobs_active_key'`,
        );
        expect(index.indexdef).toMatch(
          /UNIQUE INDEX .* \(active_key\) WHERE \(active_key IS NOT NULL\)/,
        );
      }
    } finally {
      await upgraded.close();
    }
  });
});

describeBackends(
  "MariaDB under type 'mysql' and 'mariadb'",
  (backend) => {
    const PENDING = 200;
    const payload = (n: number) => ({ n, text: `payload ${n}: ünïcode ✓, "quoted", {braced}` });

    async function start(database: DataSourceOptions, type: 'mysql' | 'mariadb', runner = false) {
      return startApp({
        database: { ...database, type } as DataSourceOptions,
        providers: [Echo],
        jobs: { runner, pollInterval: 20, concurrency: 20 },
      });
    }

    /** Every payload as MariaDB stores it, read as text (no TypeORM transformation in between). */
    async function storedPayloads(database: DataSourceOptions): Promise<unknown[]> {
      return withSource(database, async (source) => {
        const rows = await source.query(
          'SELECT CAST(data AS CHAR) AS data FROM nest_jobs ORDER BY id',
        );
        return rows.map((row: { data: string | null }) =>
          row.data === null ? null : JSON.parse(row.data),
        );
      });
    }

    it('keeps every pending payload through restarts of both types with synchronize on, in both orders', async () => {
      const database = await emptyDatabase(backend);
      const first = await start(database, 'mysql');
      try {
        await first
          .get(JobsService)
          .enqueueMany(
            Array.from({ length: PENDING }, (_, n) => ({ kind: 'schema.echo', data: payload(n) })),
          );
      } finally {
        await first.close();
      }
      const expected = Array.from({ length: PENDING }, (_, n) => payload(n));
      for (const type of ['mariadb', 'mysql', 'mysql', 'mariadb', 'mariadb', 'mysql'] as const) {
        const restarted = await start(database, type);
        await restarted.close();
        expect(await storedPayloads(database)).toEqual(expected);
      }

      // Four workers at once, as in the report (where one failed with "Can't DROP INDEX").
      const workers = await Promise.all([
        start(database, 'mysql', true),
        start(database, 'mariadb', true),
        start(database, 'mysql', true),
        start(database, 'mariadb', true),
      ]);
      try {
        const jobs = workers[0].get(JobsService);
        const done = await waitFor(async () => {
          const finished = await jobs.list({ status: ['succeeded', 'failed'], limit: 1_000 });
          return finished.length === PENDING ? finished : null;
        }, `${PENDING} jobs to finish`);
        expect(done.filter((job) => job.status !== 'succeeded')).toEqual([]);
        expect(
          done
            .map((job) => job.result)
            .sort((a, b) => (a as { n: number }).n - (b as { n: number }).n),
        ).toEqual(expected);
      } finally {
        await Promise.all(workers.map((started) => started.close()));
      }
    });
  },
  backends.filter((backend) => backend.name === 'mysql'),
);
