import type { MigrationInterface, QueryRunner } from 'typeorm';
import { UnsupportedDatabaseError } from '../errors/jobs.errors.js';
import { mysqlSchema, postgresSchema, sqliteSchema, type SchemaSql } from './jobs-schema.sql.js';

/** The SQL of one migration for the database the query runner talks to. */
function schemaFor(
  queryRunner: QueryRunner,
  sql: Record<'postgres' | 'mysql' | 'sqlite', SchemaSql>,
): SchemaSql {
  const type = String(queryRunner.connection.options.type);
  switch (type) {
    case 'postgres':
      return sql.postgres;
    case 'mysql':
    case 'mariadb':
      return sql.mysql;
    case 'better-sqlite3':
    case 'sqlite':
      return sql.sqlite;
    default:
      throw new UnsupportedDatabaseError(type);
  }
}

const jobsSchema = { postgres: postgresSchema, mysql: mysqlSchema, sqlite: sqliteSchema };

async function runAll(queryRunner: QueryRunner, statements: string[]): Promise<void> {
  for (const statement of statements) await queryRunner.query(statement);
}

/**
 * Creates `nest_job_kinds` and `nest_jobs` with their indexes, as lib/entities/ declare them, on
 * PostgreSQL, MySQL/MariaDB or SQLite (picked from the connection's type). For apps that run with
 * `synchronize: false`; add `...JOBS_MIGRATIONS` to the DataSource's `migrations`.
 */
export class JobsSchema1795478400000 implements MigrationInterface {
  // Explicit, so that a bundler renaming the class cannot change the row TypeORM records.
  name = 'JobsSchema1795478400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await runAll(queryRunner, schemaFor(queryRunner, jobsSchema).up);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await runAll(queryRunner, schemaFor(queryRunner, jobsSchema).down);
  }
}
