// Where each system's data lives during a benchmark run. Databases of our own (bench, bench_1m),
// so the run never touches the databases other people's tests use.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PG = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432';
const MY = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const SQLITE_DIR = process.env.BENCH_SQLITE_DIR ?? join(tmpdir(), 'nestjs-typeorm-jobs-bench');

export const BACKENDS = ['sqlite', 'postgres', 'mariadb'];

/**
 * `variant` is 'empty' (the table holds only the run's jobs), 'history' (1M finished rows too),
 * 'delayed' (2M pending jobs not due for years too) or 'base' (the baseline library of
 * BENCH_BASELINE, whose schema may differ from ours).
 */
export function databaseName(variant) {
  return { empty: 'bench', history: 'bench_1m', delayed: 'bench_delayed', base: 'bench_base' }[
    variant
  ];
}

export function serverUrl(backend, variant) {
  const base = backend === 'postgres' ? PG : MY;
  return variant === null ? base : `${base}/${databaseName(variant)}`;
}

export function sqliteFile(variant) {
  mkdirSync(SQLITE_DIR, { recursive: true });
  return join(SQLITE_DIR, `${databaseName(variant)}.db`);
}

/** TypeORM options, as a user of the library would write them. */
export function typeormOptions(backend, variant) {
  switch (backend) {
    case 'postgres':
      return { type: 'postgres', url: serverUrl(backend, variant) };
    case 'mariadb':
      return { type: 'mariadb', url: serverUrl(backend, variant), charset: 'utf8mb4' };
    case 'sqlite':
      // WAL and a busy timeout: what any app that shares a SQLite file between processes sets.
      return {
        type: 'better-sqlite3',
        database: sqliteFile(variant),
        enableWAL: true,
        timeout: 10_000,
      };
    default:
      throw new Error(`unknown backend ${backend}`);
  }
}

/** The peers' PostgreSQL (the same database as ours). */
export function peerUrl() {
  return serverUrl('postgres', 'empty');
}
