import { dialectOf } from './dialects/index.js';
import type { DataSource, QueryRunner } from 'typeorm';
import { JobEntity } from '../entities/job.entity.js';
import { JobKindEntity } from '../entities/job-kind.entity.js';
import {
  JobsEntitiesMissingError,
  JobsError,
  JobsSchemaMissingError,
} from '../errors/jobs.errors.js';
import { messages } from '../jobs.messages.js';
import {
  JOBS_SCHEMA_STEPS,
  applyStep,
  type SchemaDialect,
  type SchemaStep,
} from '../migrations/jobs-schema.steps.js';

/** Who makes the module's tables: the module at startup, or the app's migrations. */
export type SchemaMode = 'auto' | 'migrations';

/** Seconds a MySQL instance waits for another one that is creating the tables. */
const LOCK_WAIT_SECONDS = 60;
const LOCK_NAME = 'nest_jobs_schema';

/**
 * Runs once at startup, before anything touches the tables. The entities are the module's, and
 * marked `synchronize: false`: TypeORM's synchronize runs DDL without a lock (instances starting
 * together race) and, under `type: 'mysql'` on MariaDB, dropped and re-added the JSON columns at
 * every start, nulling every payload. So the module owns its schema, as pg-boss and graphile-worker
 * do: with `auto` it applies the steps the database lacks, under a lock so that instances starting
 * together make the tables once; with `migrations` it only checks, and names the migration to run.
 * `steps` is every step of the package; a test passes later ones to rehearse an upgrade.
 */
export async function prepareJobsSchema(
  dataSource: DataSource,
  mode: SchemaMode,
  steps: readonly SchemaStep[] = JOBS_SCHEMA_STEPS,
): Promise<void> {
  requireEntities(dataSource);
  const dialect = dialectOf(String(dataSource.options.type));
  const runner = dataSource.createQueryRunner();
  try {
    // The usual start finds every step in place: a lookup per step, no lock taken.
    const missing = await firstMissing(runner, steps);
    if (!missing) return;
    if (mode === 'migrations') throw new JobsSchemaMissingError(missing.migration);
    await underSchemaLock(runner, dialect, async () => {
      for (const step of steps) await applyStep(runner, step);
    });
  } finally {
    await runner.release();
  }
}

/**
 * An app that lists its entities by hand without `...JOBS_ENTITIES` would otherwise fail at the
 * first query with TypeORM's bare `No metadata for "JobKindEntity" was found`.
 */
function requireEntities(dataSource: DataSource): void {
  const missing = [JobEntity, JobKindEntity].filter((entity) => !dataSource.hasMetadata(entity));
  if (missing.length > 0) {
    throw new JobsEntitiesMissingError(missing.map((entity) => entity.name));
  }
}

async function firstMissing(
  runner: QueryRunner,
  steps: readonly SchemaStep[],
): Promise<SchemaStep | undefined> {
  for (const step of steps) if (!(await step.applied(runner))) return step;
  return undefined;
}

/** Runs `work` on `runner` while no other instance can change the schema. */
function underSchemaLock(
  runner: QueryRunner,
  dialect: SchemaDialect,
  work: () => Promise<void>,
): Promise<void> {
  switch (dialect) {
    case 'postgres':
      return postgresLocked(runner, work);
    case 'mysql':
      return mysqlLocked(runner, work);
    case 'sqlite':
      return sqliteLocked(runner, work);
  }
}

/** A transaction (PostgreSQL's DDL is transactional) holding an advisory lock until it ends. */
async function postgresLocked(runner: QueryRunner, work: () => Promise<void>): Promise<void> {
  await runner.startTransaction();
  try {
    await runner.query(`SELECT pg_advisory_xact_lock(hashtext('${LOCK_NAME}'))`);
    await work();
    await runner.commitTransaction();
  } catch (error) {
    await runner.rollbackTransaction();
    throw error;
  }
}

/**
 * A named lock, held by the runner's one connection (MySQL commits each DDL statement, so no
 * transaction could hold it). Lock names are server-wide: the database's name scopes it.
 */
async function mysqlLocked(runner: QueryRunner, work: () => Promise<void>): Promise<void> {
  const name = `LEFT(CONCAT('${LOCK_NAME}.', DATABASE()), 64)`;
  const [{ got }] = await runner.query(`SELECT GET_LOCK(${name}, ?) AS got`, [LOCK_WAIT_SECONDS]);
  if (Number(got) !== 1) throw new JobsError(messages.schemaLockTimeout(LOCK_WAIT_SECONDS));
  try {
    await work();
  } finally {
    await runner.query(`SELECT RELEASE_LOCK(${name})`);
  }
}

/** SQLite steps of this process, one after the other (see `sqliteLocked`). */
let sqliteTurn: Promise<unknown> = Promise.resolve();

/**
 * BEGIN IMMEDIATE takes SQLite's write lock up front (a deferred transaction that read first could
 * not upgrade while another process writes, and would fail instead of waiting), so processes wait
 * for each other within the busy timeout. Inside one process they take turns instead: better-sqlite3
 * waits for a lock synchronously, so a second data source waiting on the first would block the
 * thread the first needs to finish.
 */
function sqliteLocked(runner: QueryRunner, work: () => Promise<void>): Promise<void> {
  const turn = sqliteTurn.then(async () => {
    await runner.query('BEGIN IMMEDIATE');
    try {
      await work();
      await runner.query('COMMIT');
    } catch (error) {
      await runner.query('ROLLBACK');
      throw error;
    }
  });
  sqliteTurn = turn.catch(() => undefined);
  return turn;
}
