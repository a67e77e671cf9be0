import type { DataSource } from 'typeorm';
import { UnsupportedDatabaseError } from '../../errors/jobs.errors.js';
import type { Database } from '../sql.js';
import type { JobsDialect } from './dialect.js';
import { MysqlDialect } from './mysql.js';
import { PostgresDialect } from './postgres.js';
import { SqliteDialect } from './sqlite.js';

export { JobsDialect } from './dialect.js';

/** The three SQL dialects the module speaks. */
export type DialectName = 'postgres' | 'mysql' | 'sqlite';

/**
 * The dialect of a TypeORM data source type, or UnsupportedDatabaseError: the one switch on the
 * database type, used by the store (hot-path SQL) and the schema (DDL).
 */
export function dialectOf(type: string): DialectName {
  switch (type) {
    case 'postgres':
      return 'postgres';
    case 'mysql':
    case 'mariadb':
      return 'mysql';
    case 'better-sqlite3':
    case 'sqlite':
      return 'sqlite';
    default:
      throw new UnsupportedDatabaseError(type);
  }
}

/** The hand-written SQL of the hot path for this data source. */
export function createDialect(dataSource: DataSource, database: Database): JobsDialect {
  switch (dialectOf(String(dataSource.options.type))) {
    case 'postgres':
      return new PostgresDialect();
    case 'mysql':
      return new MysqlDialect(database);
    case 'sqlite':
      return new SqliteDialect();
  }
}
