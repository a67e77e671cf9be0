import type { DataSource, EntityManager, QueryRunner } from 'typeorm';

/** What one statement gave back, the same on every driver. */
export interface SqlResult<Row = Record<string, unknown>> {
  rows: Row[];
  affected: number;
  /** The driver's own result (MySQL's insertId lives here). */
  raw: unknown;
}

/** Runs a statement with `?` placeholders. Dialects turn `?` into their own form first. */
export type Sql = <Row = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<SqlResult<Row>>;

async function structured<Row>(runner: QueryRunner, sql: string, params: unknown[]): Promise<SqlResult<Row>> {
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
    (manager as { dataSource?: DataSource }).dataSource ?? (manager as unknown as { connection: DataSource }).connection;
  return async (sql, params = []) => {
    const runner = dataSource.createQueryRunner();
    try {
      return await structured(runner, sql, params);
    } finally {
      await runner.release();
    }
  };
}

/** `?, ?, ?` for a list of `count` values. */
export function placeholders(count: number): string {
  return new Array<string>(count).fill('?').join(', ');
}

/** Statements, and transactions that hold one connection for several of them. */
export interface Database {
  sql: Sql;
  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
}

export function databaseOf(dataSource: DataSource): Database {
  return {
    sql: sqlOf(dataSource),
    transaction: (work) => dataSource.transaction((manager) => work(sqlOf(manager))),
  };
}
