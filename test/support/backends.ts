import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';

/** A database the suites run against. SQLite always; the servers when their URL is set. */
export interface Backend {
  name: 'sqlite' | 'postgres' | 'mysql';
  /** Why it is skipped, or null when it runs. */
  skipped: string | null;
  /** Options for a fresh, empty database (one per test on SQLite, one per jest worker on servers). */
  options(): Promise<DataSourceOptions>;
}

const worker = process.env.JEST_WORKER_ID ?? '1';

function serverBackend(name: 'postgres' | 'mysql', variable: string): Backend {
  const url = process.env[variable];
  return {
    name,
    skipped: url ? null : `${variable} is not set`,
    async options() {
      const database = await workerDatabase(name, url!);
      return {
        type: database.type,
        url: database.url,
        ...(name === 'mysql' ? { charset: 'utf8mb4' } : {}),
      } as DataSourceOptions;
    },
  };
}

const sqlite: Backend = {
  name: 'sqlite',
  skipped: null,
  async options() {
    const dir = mkdtempSync(join(tmpdir(), 'jobs-test-'));
    return {
      type: 'better-sqlite3',
      database: join(dir, 'jobs.db'),
      enableWAL: true,
      timeout: 10_000,
    } as DataSourceOptions;
  },
};

export const backends: Backend[] = [
  sqlite,
  serverBackend('postgres', 'JOBS_TEST_POSTGRES_URL'),
  serverBackend('mysql', 'JOBS_TEST_MYSQL_URL'),
];

export const serverBackends = backends.filter((backend) => backend.name !== 'sqlite');

/**
 * Runs `suite` once per backend, as `<title> [<backend>]`; a backend without its URL is skipped
 * with its reason in the test name, so the report says what did not run.
 */
export function describeBackends(
  title: string,
  suite: (backend: Backend) => void,
  only = backends,
): void {
  for (const backend of only) {
    if (backend.skipped) {
      describe.skip(`${title} [${backend.name}: skipped, ${backend.skipped}]`, () => {
        it('is skipped', () => undefined);
      });
    } else {
      describe(`${title} [${backend.name}]`, () => suite(backend));
    }
  }
}

/**
 * Drops and creates the database `name` on the server at `baseUrl`; returns its URL and the TypeORM
 * type to use for it ('mariadb' for a MariaDB server reached by a mysql:// URL).
 */
export async function recreateDatabase(
  type: 'postgres' | 'mysql',
  baseUrl: string,
  name: string,
): Promise<{ url: string; type: string }> {
  const admin = new DataSource({ type, url: baseUrl } as DataSourceOptions);
  await admin.initialize();
  let driver: string = type;
  try {
    if (type === 'postgres') {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${name}`);
    } else {
      // The suites name MariaDB 'mariadb'; test/schema.spec.ts also runs it under type 'mysql'.
      const [{ version }] = await admin.query('SELECT VERSION() AS version');
      if (String(version).includes('MariaDB')) driver = 'mariadb';
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
    }
  } finally {
    await admin.destroy();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), type: driver };
}

const prepared = new Map<string, Promise<{ url: string; type: string }>>();

/** One database per jest worker, emptied once per test file, so files can run in parallel. */
function workerDatabase(
  type: 'postgres' | 'mysql',
  baseUrl: string,
): Promise<{ url: string; type: string }> {
  const key = `${type}:${baseUrl}`;
  let ready = prepared.get(key);
  if (!ready) {
    ready = recreateDatabase(
      type,
      baseUrl,
      `${process.env.JOBS_TEST_DB_PREFIX ?? 'jobs_test'}_w${worker}`,
    );
    prepared.set(key, ready);
  }
  return ready;
}
