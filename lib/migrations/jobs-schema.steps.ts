import type { QueryRunner } from 'typeorm';
import { dialectOf, type DialectName } from '../storage/dialects/index.js';
import {
  JOB_KINDS_TABLE,
  JOB_DEPS_TABLE,
  JOB_PERMITS_TABLE,
  JOB_QUEUES_TABLE,
  JOB_STARTS_TABLE,
  JOBS_TABLE,
} from '../jobs.constants.js';
import {
  mysqlSchema,
  postgresSchema,
  kindHandlersSql,
  runControlSql,
  queuesSql,
  flowControlSql,
  kindPermitsSql,
  flowsSql,
  runOptionsSql,
  sqliteSchema,
  tracingSql,
  pendingDueSql,
  partialActiveKeySql,
  PARTIAL_ACTIVE_KEY_INDEX,
  ACTIVE_KEY_CONSTRAINT,
  type SchemaSql,
} from './jobs-schema.sql.js';

/** The three SQL dialects the schema is written in. */
export type SchemaDialect = DialectName;

/**
 * One change of the module's tables. Each is shipped twice, from the same SQL: as a TypeORM
 * migration class (for apps that run migrations) and as a step the module applies itself at
 * startup (`schema: 'auto'`). Whether a step is in place is read from the database (a table or a
 * column that it adds), not from a record of who applied it, so the two ways can be mixed: a
 * migration finds the tables the module made and does nothing, and the other way round.
 */
export interface SchemaStep {
  /** The name of the migration class that makes this change. */
  readonly migration: string;
  /** Whether the database has this change. */
  applied(runner: QueryRunner): Promise<boolean>;
  readonly sql: Record<SchemaDialect, SchemaSql>;
}

/**
 * Every change, oldest first, in step with JOBS_MIGRATIONS. A release that changes the schema
 * appends a step (and its migration class, with the same SQL) and never edits a released one.
 */
export const JOBS_SCHEMA_STEPS: readonly SchemaStep[] = [
  {
    migration: 'JobsSchema1795478400000',
    applied: async (runner) =>
      (await runner.hasTable(JOBS_TABLE)) && (await runner.hasTable(JOB_KINDS_TABLE)),
    sql: { postgres: postgresSchema, mysql: mysqlSchema, sqlite: sqliteSchema },
  },
  {
    migration: 'JobsRunOptions1796169600000',
    applied: (runner) => runner.hasColumn(JOBS_TABLE, 'backoff'),
    sql: runOptionsSql,
  },
  {
    migration: 'JobsKindHandlers1796774400000',
    applied: (runner) => runner.hasColumn(JOB_KINDS_TABLE, 'handled_at'),
    sql: kindHandlersSql,
  },
  {
    migration: 'JobsRunControl1797984000000',
    applied: (runner) => runner.hasColumn(JOBS_TABLE, 'awaited'),
    sql: runControlSql,
  },
  {
    migration: 'JobsQueues1798588800000',
    applied: (runner) => runner.hasTable(JOB_QUEUES_TABLE),
    sql: queuesSql,
  },
  {
    migration: 'JobsFlowControl1799452800000',
    applied: (runner) => runner.hasTable(JOB_STARTS_TABLE),
    sql: flowControlSql,
  },
  {
    migration: 'JobsKindPermits1800057600000',
    applied: (runner) => runner.hasTable(JOB_PERMITS_TABLE),
    sql: kindPermitsSql,
  },
  {
    migration: 'JobsFlows1800662400000',
    applied: (runner) => runner.hasTable(JOB_DEPS_TABLE),
    sql: flowsSql,
  },
  {
    migration: 'JobsTracing1801267200000',
    applied: (runner) => runner.hasColumn(JOBS_TABLE, 'trace_context'),
    sql: tracingSql,
  },
  {
    migration: 'JobsPendingDueIndex1801872000000',
    applied: pendingDueInPlace,
    sql: pendingDueSql,
  },
  {
    migration: 'JobsPartialActiveKey1802476800000',
    applied: partialActiveKeyInPlace,
    sql: partialActiveKeySql,
  },
];

/** Whether the due index holds pending jobs only (always, on MariaDB: its step changes nothing). */
async function pendingDueInPlace(runner: QueryRunner): Promise<boolean> {
  const dialect = dialectOf(String(runner.connection.options.type));
  if (dialect === 'mysql') return true;
  const rows: Array<{ definition: string | null }> = await runner.query(
    dialect === 'postgres'
      ? `SELECT indexdef AS definition FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'idx_nest_jobs_due'`
      : `SELECT sql AS definition FROM sqlite_master WHERE type = 'index' AND name = 'idx_nest_jobs_due'`,
  );
  return rows.length > 0 && /\bWHERE\b/i.test(rows[0].definition ?? '');
}

/**
 * Whether the active keys' unique index is the partial one and the constraint is gone (always,
 * where the step changes nothing). Both, so that a step cut short between its two statements (run
 * without a transaction) is finished at the next start.
 */
async function partialActiveKeyInPlace(runner: QueryRunner): Promise<boolean> {
  if (dialectOf(String(runner.connection.options.type)) !== 'postgres') return true;
  const [row]: Array<{ partial: string | number; whole: string | number }> = await runner.query(
    `SELECT
       (SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema()
          AND indexname = '${PARTIAL_ACTIVE_KEY_INDEX}') AS partial,
       (SELECT COUNT(*) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
          JOIN pg_namespace n ON n.oid = t.relnamespace
          WHERE n.nspname = current_schema() AND c.conname = '${ACTIVE_KEY_CONSTRAINT}') AS whole`,
  );
  return Number(row.partial) > 0 && Number(row.whole) === 0;
}

/** The step a migration class applies, by the class's name. */
export function schemaStep(migration: string): SchemaStep {
  return JOBS_SCHEMA_STEPS.find((step) => step.migration === migration)!;
}

/** The statements of one direction of a step, for the database the runner talks to. */
export function stepSql(
  runner: QueryRunner,
  step: SchemaStep,
  direction: keyof SchemaSql,
): string[] {
  return step.sql[dialectOf(String(runner.connection.options.type))][direction];
}

/** Applies the step unless the database has it; returns whether it ran. */
export async function applyStep(runner: QueryRunner, step: SchemaStep): Promise<boolean> {
  if (await step.applied(runner)) return false;
  for (const statement of stepSql(runner, step, 'up')) await runner.query(statement);
  return true;
}
