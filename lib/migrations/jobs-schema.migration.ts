import type { MigrationInterface, QueryRunner } from 'typeorm';
import { applyStep, schemaStep, stepSql } from './jobs-schema.steps.js';

const NAME = 'JobsSchema1795478400000';

/**
 * Creates `nest_job_kinds` and `nest_jobs` with their indexes, as lib/entities/ declare them, on
 * PostgreSQL, MySQL/MariaDB or SQLite (picked from the connection's type). For apps that run with
 * `schema: 'migrations'`; add `...JOBS_MIGRATIONS` to the DataSource's `migrations`. Where the
 * tables exist already (made by the module at startup), it does nothing, and is recorded as run.
 */
export class JobsSchema1795478400000 implements MigrationInterface {
  // Explicit, so that a bundler renaming the class cannot change the row TypeORM records.
  name = NAME;

  async up(queryRunner: QueryRunner): Promise<void> {
    await applyStep(queryRunner, schemaStep(NAME));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const statement of stepSql(queryRunner, schemaStep(NAME), 'down')) {
      await queryRunner.query(statement);
    }
  }
}
