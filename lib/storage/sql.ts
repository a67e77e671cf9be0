import { QueryFailedError, type DataSource, type EntityManager, type QueryRunner } from 'typeorm';
import { guardPostgresPool } from './pg-pool-guard.js';
import { SqliteOutsideTransactions } from './sqlite.outside.js';

/** What one statement gave back, the same on every driver. */
export interface SqlResult<Row = Record<string, unknown>> {
  rows: Row[];
  affected: number;
  /** The driver's own result (MySQL's insertId lives here). */
  raw: unknown;
}

/** Runs a statement with `?` placeholders. Dialects turn `?` into their own form first. */
export type Sql = (<Row = Record<string, unknown>>(
  sql: string,
  params?: unknown[],
) => Promise<SqlResult<Row>>) & {
  /**
   * PostgreSQL outside a transaction: runs a statement (already in the driver's `$n` form) as a
   * named prepared statement on a pooled connection, parsed and planned once per connection. About
   * half the round trip of a plain query for the runner's claim. `arrays`: rows as arrays of
   * values in column order, as `arrays` below.
   */
  prepared?: <Row = Record<string, unknown>>(
    name: string,
    text: string,
    params: unknown[],
    options?: { arrays?: boolean },
  ) => Promise<SqlResult<Row>>;
  /**
   * SQLite outside a transaction: true while a write issued now would have to wait for a
   * transaction of the app to end (the claim skips its turn instead).
   */
  busy?: () => boolean;
  /**
   * SQLite outside a transaction: runs a statement and gives its rows as arrays of values in
   * column order, without an object a row (a claim's 16 columns as objects cost about 4 µs a job).
   */
  arrays?: (sql: string, params?: unknown[]) => Promise<unknown[][]>;
};

/** The bits of node-postgres used for prepared statements. */
interface PgQueryable {
  query(config: {
    name: string;
    text: string;
    values: unknown[];
    rowMode?: 'array';
  }): Promise<{ rows: unknown[]; rowCount: number | null }>;
  query(text: string): Promise<unknown>;
}
interface PgPool extends PgQueryable {
  connect(): Promise<PgQueryable & { release(destroy?: boolean): void }>;
}

async function structured<Row>(
  runner: QueryRunner,
  sql: string,
  params: unknown[],
): Promise<SqlResult<Row>> {
  const result = await runner.query(sql, params, true);
  return { rows: (result.records ?? []) as Row[], affected: result.affected ?? 0, raw: result.raw };
}

/** Each statement on a connection of its own from the pool (autocommit). */
export function sqlOf(source: DataSource | EntityManager): Sql {
  const manager = 'manager' in source ? source.manager : source;
  const transactional = manager.queryRunner;
  if (transactional) return (sql, params = []) => structured(transactional, sql, params);
  // TypeORM 1.x names it `dataSource`; 0.3 has `connection`.
  const dataSource: DataSource =
    (manager as { dataSource?: DataSource }).dataSource ??
    (manager as unknown as { connection: DataSource }).connection;
  const direct = mysqlPoolOf(dataSource);
  if (direct) return direct;
  const sql: Sql = async (text, params = []) => {
    const runner = dataSource.createQueryRunner();
    try {
      return await structured(runner, text, params);
    } finally {
      await runner.release();
    }
  };
  if (dataSource?.options?.type === 'postgres') {
    sql.prepared = async <Row>(
      name: string,
      text: string,
      values: unknown[],
      options: { arrays?: boolean } = {},
    ) => {
      const pool = (dataSource.driver as unknown as { master: PgPool }).master;
      const result = await pool.query(
        options.arrays ? { name, text, values, rowMode: 'array' as const } : { name, text, values },
      );
      return { rows: result.rows as Row[], affected: result.rowCount ?? 0, raw: result };
    };
  }
  return sql;
}

/** The bits of mysql2's (callback) pool used for statements outside transactions. */
interface MysqlPool {
  query(sql: string, values: unknown[], done: (error: Error | null, result: unknown) => void): void;
}

/**
 * MySQL/MariaDB outside a transaction: each statement straight on the driver's pool, which takes a
 * connection and gives it back, instead of through a TypeORM query runner (a runner, its
 * connection's promise wrapper and the stack it captures, and the query events cost an enqueue
 * about a third of its CPU). Left to TypeORM, and so to its logger, when the app asked TypeORM to
 * log or time statements, or reads from replicas (a pool cluster); null then.
 */
function mysqlPoolOf(dataSource: DataSource | undefined): Sql | null {
  const options = dataSource?.options as
    { type?: string; logging?: unknown; maxQueryExecutionTime?: number } | undefined;
  if (options?.type !== 'mysql' && options?.type !== 'mariadb') return null;
  if (options.logging || options.maxQueryExecutionTime) return null;
  const driver = dataSource!.driver as { pool?: MysqlPool; poolCluster?: unknown };
  if (driver.poolCluster) return null;
  const sql = <Row>(text: string, params: unknown[] = []) =>
    new Promise<SqlResult<Row>>((resolve, reject) => {
      const pool = driver.pool;
      if (!pool) return reject(new Error('the MySQL pool is closed'));
      pool.query(text, params, (error, raw) => {
        if (error) return reject(new QueryFailedError(text, params, error));
        const rows = Array.isArray(raw) ? (raw as Row[]) : [];
        const affected = (raw as { affectedRows?: number } | null)?.affectedRows ?? 0;
        resolve({ rows, affected, raw });
      });
    });
  return sql as Sql;
}

/** `?, ?, ?` for a list of `count` values. */
export function placeholders(count: number): string {
  return new Array<string>(count).fill('?').join(', ');
}

/** Statements, and transactions that hold one connection for several of them. */
export interface Database {
  sql: Sql;
  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
  /**
   * For the statements made through TypeORM's repositories: on better-sqlite3 they run outside
   * the app's transactions, as `sql`'s do; elsewhere the data source's own manager.
   */
  manager: EntityManager;
  /**
   * better-sqlite3 only: runs synchronous work inside BEGIN IMMEDIATE (see
   * SqliteOutsideTransactions.exclusive); null when an app transaction is open.
   */
  exclusive?: <T>(work: (run: (text: string, params: unknown[]) => SqlResult) => T) => T | null;
}

const databases = new WeakMap<DataSource, Database>();

/** One per data source, so every statement of the module on SQLite waits in the same line. */
export function databaseOf(dataSource: DataSource): Database {
  let database = databases.get(dataSource);
  if (!database) {
    database = {
      ...statementsOf(dataSource),
      // Only MySQL uses transactions of the module's own; they go through TypeORM on every driver.
      transaction: (work) => dataSource.transaction((manager) => work(sqlOf(manager))),
    };
    databases.set(dataSource, database);
  }
  return database;
}

function statementsOf(dataSource: DataSource): Pick<Database, 'sql' | 'manager' | 'exclusive'> {
  // String(): TypeORM 1.x no longer lists 'sqlite' (node-sqlite3); 0.3 does.
  switch (String(dataSource.options.type)) {
    case 'better-sqlite3': {
      const outside = new SqliteOutsideTransactions(dataSource);
      return {
        sql: outside.sql,
        manager: outside.manager(),
        exclusive: (work) => outside.exclusive(work),
      };
    }
    case 'sqlite': {
      // node-sqlite3 is asynchronous: no check and statement can share a tick, so its statements
      // keep TypeORM's path and join an open app transaction; only the claim skips its turn.
      const sql = sqlOf(dataSource);
      const runner = dataSource.driver as { queryRunner?: { isTransactionActive: boolean } };
      sql.busy = () => runner.queryRunner?.isTransactionActive ?? false;
      return { sql, manager: dataSource.manager };
    }
    case 'postgres':
      guardPostgresPool(dataSource);
      return { sql: sqlOf(dataSource), manager: dataSource.manager };
    default:
      return { sql: sqlOf(dataSource), manager: dataSource.manager };
  }
}
