import type { DataSource } from 'typeorm';

interface PoolClient {
  on(event: 'error', listener: (error: Error) => void): unknown;
}

interface Pool {
  on?(event: 'connect', listener: (client: PoolClient) => void): unknown;
}

const guarded = new WeakSet<object>();

/**
 * PostgreSQL: gives every connection of the data source's pool an 'error' listener for its whole
 * life. When the server goes away (a restart, a failover), node-postgres can hand a connection to a
 * waiting query and emit the server's FATAL on it before TypeORM has attached its own listener; an
 * 'error' event with no listener is thrown, and takes the process down (brianc/node-postgres#2762,
 * seen in test/fault/transaction.fault.ts). The queries on that connection still fail as they should.
 */
export function guardPostgresPool(dataSource: DataSource): void {
  const pool = (dataSource.driver as unknown as { master?: Pool }).master;
  if (!pool?.on || guarded.has(pool)) return;
  guarded.add(pool);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
}
