// Plain connections for the harness itself: schema checks, resets, counts, the history prefill and
// the raw-SQL reference loop. Statements use `?` placeholders on every backend.
import { createRequire } from 'node:module';
import { serverUrl, sqliteFile } from './backends.mjs';

const require = createRequire(new URL('../../dist/index.js', import.meta.url));

function numbered(statement) {
  let n = 0;
  return statement.replace(/\?/g, () => `$${++n}`);
}

/** One connection (or a small pool) to a benchmark database: `query(sql, params) -> rows`. */
export async function connect(backend, variant, { pool = 1 } = {}) {
  if (backend === 'postgres') {
    const pg = require('pg');
    const client = new pg.Pool({ connectionString: serverUrl(backend, variant), max: pool });
    return {
      backend,
      async query(statement, params = []) {
        return (await client.query(numbered(statement), params)).rows;
      },
      async transaction(work) {
        const conn = await client.connect();
        try {
          await conn.query('BEGIN');
          const result = await work(async (s, p = []) => (await conn.query(numbered(s), p)).rows);
          await conn.query('COMMIT');
          return result;
        } catch (error) {
          await conn.query('ROLLBACK').catch(() => undefined);
          throw error;
        } finally {
          conn.release();
        }
      },
      close: () => client.end(),
    };
  }
  if (backend === 'mariadb') {
    const mysql = require('mysql2/promise');
    const client = mysql.createPool({
      uri: serverUrl(backend, variant),
      connectionLimit: pool,
      multipleStatements: false,
    });
    return {
      backend,
      async query(statement, params = []) {
        const [rows] = await client.query(statement, params);
        return rows;
      },
      async transaction(work) {
        const conn = await client.getConnection();
        try {
          await conn.beginTransaction();
          const result = await work(async (s, p = []) => (await conn.query(s, p))[0]);
          await conn.commit();
          return result;
        } catch (error) {
          await conn.rollback().catch(() => undefined);
          throw error;
        } finally {
          conn.release();
        }
      },
      close: () => client.end(),
    };
  }
  const Sqlite = require('better-sqlite3');
  const db = new Sqlite(sqliteFile(variant), { timeout: 10_000 });
  db.pragma('journal_mode = WAL');
  const run = (statement, params = []) => {
    params = params.map((p) => (typeof p === 'boolean' ? Number(p) : p));
    const prepared = db.prepare(statement);
    return prepared.reader ? prepared.all(params) : (prepared.run(params), []);
  };
  return {
    backend,
    async query(statement, params = []) {
      return run(statement, params);
    },
    async transaction(work) {
      db.exec('BEGIN IMMEDIATE');
      try {
        const result = await work(async (s, p) => run(s, p));
        db.exec('COMMIT');
        return result;
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
    },
    close: async () => db.close(),
  };
}

/**
 * Creates the server databases the benchmark uses, if missing; those named in `fresh` (the
 * baseline's, whose schema belongs to another version of the library) are dropped and created anew.
 */
export async function ensureServerDatabases(names = ['bench', 'bench_1m'], fresh = []) {
  const pg = require('pg');
  const admin = new pg.Client({ connectionString: serverUrl('postgres', null) + '/postgres' });
  await admin.connect();
  for (const name of names) {
    if (fresh.includes(name)) await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await admin.query(`CREATE DATABASE ${name}`);
  }
  await admin.end();
  const mysql = require('mysql2/promise');
  const my = await mysql.createConnection({ uri: serverUrl('mariadb', null) });
  for (const name of names) {
    if (fresh.includes(name)) await my.query(`DROP DATABASE IF EXISTS ${name}`);
    await my.query(`CREATE DATABASE IF NOT EXISTS ${name} CHARACTER SET utf8mb4`);
  }
  await my.end();
}
