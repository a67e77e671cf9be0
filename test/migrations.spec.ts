import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import {
  JOBS_ENTITIES,
  JOBS_MIGRATIONS,
  JobKind,
  JobsModule,
  JobsService,
  type JobContext,
} from 'nestjs-typeorm-jobs';
import { JOBS_SCHEMA_STEPS, applyStep } from '../lib/migrations/jobs-schema.steps.js';
import { describeBackends, recreateDatabase, type Backend } from './support/backends.js';
import { quietLogger, waitForStatus } from './support/fixtures.js';

/**
 * Apps with `schema: 'migrations'` create the tables with the package's migrations. After them,
 * TypeORM must see no difference between the database and the entities (looked at with their
 * synchronize flag turned on: the entities are `synchronize: false`, so TypeORM's schema sync and
 * `migration:generate` never look at them).
 */

const worker = process.env.JEST_WORKER_ID ?? '1';

/** A new, empty database of this backend (nothing synchronized): a new file, or a dropped and re-created one. */
async function emptyDatabase(backend: Backend): Promise<DataSourceOptions> {
  const options = (await backend.options()) as DataSourceOptions & { url?: string };
  if (backend.name === 'sqlite') return options;
  const name = `${process.env.JOBS_TEST_DB_PREFIX ?? 'jobs_test'}_mig_w${worker}`;
  const database = await recreateDatabase(backend.name, options.url!, name);
  return { ...options, url: database.url } as DataSourceOptions;
}

@Injectable()
class Handlers {
  @JobKind('migrated.echo')
  echo({ data }: JobContext<{ text: string }>) {
    return { echoed: data.text };
  }
}

it('ships one migration class per schema step, in the same order', () => {
  expect(JOBS_MIGRATIONS.map((migration) => new migration().name)).toEqual(
    JOBS_SCHEMA_STEPS.map((step) => step.migration),
  );
});

describeBackends('migrations', (backend) => {
  let database: DataSourceOptions;
  let source: DataSource | null = null;
  let app: TestingModule | null = null;

  beforeEach(async () => {
    database = await emptyDatabase(backend);
  });

  afterEach(async () => {
    await app?.close();
    app = null;
    if (source?.isInitialized) await source.destroy();
    source = null;
  });

  async function migrated(): Promise<DataSource> {
    source = new DataSource({
      ...database,
      entities: JOBS_ENTITIES,
      migrations: JOBS_MIGRATIONS,
      synchronize: false,
    });
    await source.initialize();
    await source.runMigrations({ transaction: 'each' });
    return source;
  }

  /**
   * What a decorator cannot say, and TypeORM's sync would undo: on PostgreSQL the unique key of
   * active jobs is a partial unique index of the keyed jobs (JobsPartialActiveKey1802476800000),
   * where a column's `unique` declares a constraint over every row, on every database alike.
   * Exactly these two statements, nothing else, are left out of the comparison (and must be there).
   */
  const UNDECLARABLE =
    backend.name === 'postgres'
      ? [
          'DROP INDEX "public"."uq_nest_jobs_active_key"',
          'ALTER TABLE "nest_jobs" ADD CONSTRAINT "UQ_2cb0a14f5eff443c0d9003d87a1" UNIQUE ("active_key")',
        ]
      : [];

  /**
   * The statements TypeORM's schema sync would run for the module's entities, were they its to
   * sync; on tables the migrations made, without the UNDECLARABLE ones.
   */
  async function entityDiff(db: DataSource, migrated = true): Promise<string[]> {
    const entities = db.entityMetadatas;
    expect(entities.map((metadata) => metadata.synchronize)).toEqual([false, false]);
    for (const metadata of entities) metadata.synchronize = true;
    try {
      const queries = (await db.driver.createSchemaBuilder().log()).upQueries.map(
        (query) => query.query,
      );
      if (!migrated) return queries;
      expect(queries).toEqual(expect.arrayContaining(UNDECLARABLE));
      return queries.filter((query) => !UNDECLARABLE.includes(query));
    } finally {
      for (const metadata of entities) metadata.synchronize = false;
    }
  }

  it('creates the tables and indexes exactly as the entities declare them', async () => {
    const db = await migrated();
    expect(await db.query('SELECT COUNT(*) AS n FROM nest_jobs')).toEqual([
      { n: expect.anything() },
    ]);
    expect(await entityDiff(db)).toEqual([]);
    expect(await db.showMigrations()).toBe(false);
  });

  it("is what TypeORM's schema sync would create, were the tables its own", async () => {
    source = new DataSource({ ...database, entities: JOBS_ENTITIES });
    await source.initialize();
    expect(await entityDiff(source, false)).toEqual(
      expect.arrayContaining([expect.stringMatching(/CREATE TABLE .nest_jobs./)]),
    );
  });

  it('leaves the tables to the module: synchronize: true neither creates nor alters them', async () => {
    source = new DataSource({ ...database, entities: JOBS_ENTITIES, synchronize: true });
    await source.initialize();
    const runner = source.createQueryRunner();
    try {
      expect(await runner.hasTable('nest_jobs')).toBe(false);
    } finally {
      await runner.release();
    }
    expect((await source.driver.createSchemaBuilder().log()).upQueries).toEqual([]);
  });

  it('records itself as run, changing nothing, on tables the module created at startup', async () => {
    app = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ ...database, autoLoadEntities: true, retryAttempts: 0 } as never),
        JobsModule.forRoot({ runner: false }),
      ],
      providers: [Handlers],
    })
      .setLogger(quietLogger)
      .compile();
    await app.init();
    const job = await app.get(JobsService).enqueue('migrated.echo', { text: 'kept' });
    await app.close();
    app = null;

    const db = await migrated();
    expect(await db.showMigrations()).toBe(false);
    expect(await entityDiff(db)).toEqual([]);
    const [row] = await db.query(`SELECT status FROM nest_jobs WHERE id = ${job.id}`);
    expect(row).toEqual({ status: 'pending' });
  });

  it("lets an app with schema: 'migrations' and migrationsRun run a job end to end", async () => {
    app = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({
          ...database,
          autoLoadEntities: true,
          synchronize: false,
          migrations: JOBS_MIGRATIONS,
          migrationsRun: true,
          retryAttempts: 0,
        } as never),
        JobsModule.forRoot({ pollInterval: 50, schema: 'migrations' }),
      ],
      providers: [Handlers],
    })
      .setLogger(quietLogger)
      .compile();
    await app.init();
    const job = await app.get(JobsService).enqueue('migrated.echo', { text: 'hello' });
    const done = await waitForStatus(app, job.id, 'succeeded', 'failed');
    expect(done.status).toBe('succeeded');
    expect(done.result).toEqual({ echoed: 'hello' });
    const kinds = await app.get(JobsService).kinds();
    expect(kinds.map((kind) => kind.name)).toContain('migrated.echo');
  });

  if (backend.name === 'postgres') {
    it("finishes the active keys' step at the next start when only its first statement ran", async () => {
      const db = await migrated();
      const runner = db.createQueryRunner();
      try {
        const step = JOBS_SCHEMA_STEPS.at(-1)!;
        expect(step.migration).toBe('JobsPartialActiveKey1802476800000');
        // Cut short without a transaction: the partial index made, the constraint not yet dropped.
        await db.query(
          `ALTER TABLE nest_jobs ADD CONSTRAINT "UQ_2cb0a14f5eff443c0d9003d87a1" UNIQUE (active_key)`,
        );
        expect(await step.applied(runner)).toBe(false);
        expect(await applyStep(runner, step)).toBe(true);
        expect(await step.applied(runner)).toBe(true);
        expect(await entityDiff(db)).toEqual([]);
      } finally {
        await runner.release();
      }
    });
  }

  it('removes the tables when the migrations are reverted', async () => {
    const db = await migrated();
    const runner = db.createQueryRunner();
    try {
      // The active keys' partial unique index (PostgreSQL only: nothing to undo elsewhere).
      const activeKey = JOBS_SCHEMA_STEPS.at(-1)!;
      expect(activeKey.migration).toBe('JobsPartialActiveKey1802476800000');
      expect(await activeKey.applied(runner)).toBe(true);
      await db.undoLastMigration({ transaction: 'each' });
      expect(await activeKey.applied(runner)).toBe(backend.name !== 'postgres');
      // The due index of pending jobs only (a partial index; MariaDB has none: nothing to undo).
      const pendingDue = JOBS_SCHEMA_STEPS.at(-2)!;
      expect(pendingDue.migration).toBe('JobsPendingDueIndex1801872000000');
      expect(await pendingDue.applied(runner)).toBe(true);
      await db.undoLastMigration({ transaction: 'each' });
      expect(await pendingDue.applied(runner)).toBe(backend.name === 'mysql');
      expect(await runner.hasColumn('nest_jobs', 'trace_context')).toBe(true);
      await db.undoLastMigration({ transaction: 'each' });
      expect(await runner.hasColumn('nest_jobs', 'trace_context')).toBe(false);
      expect(await runner.hasTable('nest_job_deps')).toBe(true);
      await db.undoLastMigration({ transaction: 'each' });
      expect(await runner.hasTable('nest_job_deps')).toBe(false);
      expect(await runner.hasTable('nest_job_batches')).toBe(false);
      expect(await runner.hasColumn('nest_jobs', 'has_dependents')).toBe(false);
      expect(await runner.hasColumn('nest_jobs', 'deps_left')).toBe(false);
      expect(await runner.hasColumn('nest_jobs', 'batch_id')).toBe(false);
      expect(await runner.hasTable('nest_job_permits')).toBe(true);
      await db.undoLastMigration({ transaction: 'each' });
      expect(await runner.hasTable('nest_job_permits')).toBe(false);
      expect(await runner.hasTable('nest_job_starts')).toBe(true);
      await db.undoLastMigration({ transaction: 'each' });
      expect(await runner.hasTable('nest_job_starts')).toBe(false);
      expect(await runner.hasTable('nest_job_groups')).toBe(false);
      expect(await runner.hasColumn('nest_jobs', 'group_key')).toBe(false);
      expect(await runner.hasColumn('nest_job_kinds', 'limits')).toBe(false);
      expect(await runner.hasTable('nest_job_queues')).toBe(true);
      await db.undoLastMigration({ transaction: 'each' });
      expect(await runner.hasTable('nest_job_queues')).toBe(false);
      expect(await runner.hasColumn('nest_jobs', 'awaited')).toBe(true);
      await db.undoLastMigration({ transaction: 'each' });
      expect(await runner.hasColumn('nest_jobs', 'awaited')).toBe(false);
      expect(await runner.hasColumn('nest_jobs', 'progress')).toBe(false);
      expect(await runner.hasColumn('nest_job_kinds', 'handled_at')).toBe(true);
      await db.undoLastMigration({ transaction: 'each' });
      expect(await runner.hasColumn('nest_job_kinds', 'handled_at')).toBe(false);
      expect(await runner.hasColumn('nest_jobs', 'timeout_ms')).toBe(true);
      await db.undoLastMigration({ transaction: 'each' });
      expect(await runner.hasTable('nest_jobs')).toBe(true);
      expect(await runner.hasColumn('nest_jobs', 'timeout_ms')).toBe(false);
      await db.undoLastMigration({ transaction: 'each' });
      expect(await runner.hasTable('nest_jobs')).toBe(false);
      expect(await runner.hasTable('nest_job_kinds')).toBe(false);
    } finally {
      await runner.release();
    }
    expect(await db.showMigrations()).toBe(true);
  });
});
