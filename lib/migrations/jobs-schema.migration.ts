import type { MigrationInterface, QueryRunner } from 'typeorm';
import { applyStep, schemaStep, stepSql } from './jobs-schema.steps.js';

/**
 * A migration class per step of JOBS_SCHEMA_STEPS, for apps that run with `schema: 'migrations'`
 * (add `...JOBS_MIGRATIONS` to the DataSource's `migrations`). Each picks its SQL from the
 * connection's type (PostgreSQL, MySQL/MariaDB or SQLite) and does nothing where its change is
 * already in place (made by the module at startup), so TypeORM records it as run either way.
 */
abstract class SchemaStepMigration implements MigrationInterface {
  // Each class sets it explicitly, so that a bundler renaming a class cannot change the row TypeORM records.
  abstract readonly name: string;

  async up(queryRunner: QueryRunner): Promise<void> {
    await applyStep(queryRunner, schemaStep(this.name));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const statement of stepSql(queryRunner, schemaStep(this.name), 'down')) {
      await queryRunner.query(statement);
    }
  }
}

/** Creates `nest_job_kinds` and `nest_jobs` with their indexes, as lib/entities/ declare them. */
export class JobsSchema1795478400000 extends SchemaStepMigration {
  readonly name = 'JobsSchema1795478400000';
}

/** Adds `nest_jobs.timeout_ms` and `nest_jobs.backoff`: the run options a job can be given at enqueue. */
export class JobsRunOptions1796169600000 extends SchemaStepMigration {
  readonly name = 'JobsRunOptions1796169600000';
}

/** Adds `nest_job_kinds.handled_at`: when an instance with a handler for the kind last said so. */
export class JobsKindHandlers1796774400000 extends SchemaStepMigration {
  readonly name = 'JobsKindHandlers1796774400000';
}

/** Adds `nest_jobs.progress` (what a running handler reported) and `nest_jobs.awaited` (someone waits for its end). */
export class JobsRunControl1797984000000 extends SchemaStepMigration {
  readonly name = 'JobsRunControl1797984000000';
}

/** Creates `nest_job_queues`: queues with a state of their own (paused). */
export class JobsQueues1798588800000 extends SchemaStepMigration {
  readonly name = 'JobsQueues1798588800000';
}

/** Adds `nest_jobs.group_key`, `nest_job_kinds.limits` and `nest_job_starts`: flow control (concurrency and rate limits). */
export class JobsFlowControl1799452800000 extends SchemaStepMigration {
  readonly name = 'JobsFlowControl1799452800000';
}

/** Creates `nest_job_permits`: the slots of kinds' cluster-wide concurrency each instance holds. */
export class JobsKindPermits1800057600000 extends SchemaStepMigration {
  readonly name = 'JobsKindPermits1800057600000';
}

/** Adds dependencies and batches: `nest_jobs.has_dependents`, `deps_left`, `batch_id`, `nest_job_deps`, `nest_job_batches`. */
export class JobsFlows1800662400000 extends SchemaStepMigration {
  readonly name = 'JobsFlows1800662400000';
}

/** Adds `nest_jobs.trace_context`: the W3C trace context of the enqueue, the parent of each run's span. */
export class JobsTracing1801267200000 extends SchemaStepMigration {
  readonly name = 'JobsTracing1801267200000';
}

/** The due index holds pending jobs only (PostgreSQL, SQLite; nothing on MariaDB). */
export class JobsPendingDueIndex1801872000000 extends SchemaStepMigration {
  readonly name = 'JobsPendingDueIndex1801872000000';
}

/** The unique key of active jobs as a partial unique index of the keyed jobs (PostgreSQL; nothing elsewhere). */
export class JobsPartialActiveKey1802476800000 extends SchemaStepMigration {
  readonly name = 'JobsPartialActiveKey1802476800000';
}
