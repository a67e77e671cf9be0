import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Injectable } from '@nestjs/common';
import { DataSource, type DataSourceOptions, type QueryRunner } from 'typeorm';
import { JobKind, JobsService } from 'nestjs-typeorm-jobs';
import { JOBS_SCHEMA_STEPS } from '../lib/migrations/jobs-schema.steps.js';
import { describeBackends, recreateDatabase, type Backend } from './support/backends.js';
import { startApp, waitFor } from './support/fixtures.js';

/**
 * Another instance is creating the tables when this one starts: this one waits for its lock, then
 * finds the tables made and leaves them (and what the other wrote) alone. The "other instance" is
 * this test holding the module's own lock: PostgreSQL's advisory lock and MySQL's named lock from a
 * connection of the test, SQLite's write lock from a child process (better-sqlite3 waits for a lock
 * synchronously, so a holder in this process could never let go).
 */

const worker = process.env.JEST_WORKER_ID ?? '1';
const LOCK = 'nest_jobs_schema';
const SENTINEL = `INSERT INTO nest_job_kinds (name, created, modified) VALUES ('other.instance', 1, 1)`;

@Injectable()
class Echo {
  @JobKind('lock.echo')
  echo() {
    return 'ok';
  }
}

async function emptyDatabase(backend: Backend): Promise<DataSourceOptions> {
  const options = (await backend.options()) as DataSourceOptions & { url?: string };
  if (backend.name === 'sqlite') return options;
  const name = `${process.env.JOBS_TEST_DB_PREFIX ?? 'jobs_test'}_lock_w${worker}`;
  const database = await recreateDatabase(backend.name, options.url!, name);
  return { ...options, type: database.type, url: database.url } as DataSourceOptions;
}

function createStatements(backend: Backend): string[] {
  return JOBS_SCHEMA_STEPS.flatMap((step) => step.sql[backend.name].up);
}

/** The other instance on a server: takes the lock, and on `finish` creates the tables and lets go. */
async function serverHolder(backend: Backend, database: DataSourceOptions) {
  const source = new DataSource(database);
  await source.initialize();
  const runner: QueryRunner = source.createQueryRunner();
  const postgres = backend.name === 'postgres';
  if (postgres) {
    await runner.startTransaction();
    await runner.query(`SELECT pg_advisory_xact_lock(hashtext('${LOCK}'))`);
  } else {
    await runner.query(`SELECT GET_LOCK(LEFT(CONCAT('${LOCK}.', DATABASE()), 64), 10)`);
  }
  return {
    /** Whether a session of the app waits for the lock. */
    async waitedFor(): Promise<boolean> {
      const [{ n }] = await source.query(
        postgres
          ? `SELECT COUNT(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`
          : `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST
             WHERE DB = DATABASE() AND STATE = 'User lock'`,
      );
      return Number(n) > 0;
    },
    async finish(): Promise<void> {
      for (const statement of [...createStatements(backend), SENTINEL]) {
        await runner.query(statement);
      }
      if (postgres) await runner.commitTransaction();
      else await runner.query(`SELECT RELEASE_LOCK(LEFT(CONCAT('${LOCK}.', DATABASE()), 64))`);
      await runner.release();
      await source.destroy();
    },
  };
}

/** The other instance on SQLite: a process holding the write lock while it creates the tables. */
async function sqliteHolder(file: string, statements: string[]) {
  const script = `
    const db = require('better-sqlite3')(process.argv[1]);
    db.pragma('journal_mode = WAL'); // as the app's data source (enableWAL)
    db.exec('BEGIN IMMEDIATE');
    console.log('locked');
    // This process cannot be told when the app waits (the app's thread is blocked waiting), so it
    // holds the lock well past the app's start, then lets go.
    setTimeout(() => {
      for (const statement of JSON.parse(process.argv[2])) db.exec(statement);
      db.exec('COMMIT');
    }, 1500);`;
  const child = spawn(process.execPath, ['-e', script, file, JSON.stringify(statements)], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = await once(child.stdout!, 'data');
  expect(String(line).trim()).toBe('locked');
  return { exited: once(child, 'exit') };
}

async function kindNames(database: DataSourceOptions): Promise<string[]> {
  const source = new DataSource(database);
  await source.initialize();
  try {
    const rows = await source.query('SELECT name FROM nest_job_kinds ORDER BY name');
    return rows.map((row: { name: string }) => row.name);
  } finally {
    await source.destroy();
  }
}

describeBackends('schema lock', (backend) => {
  it('waits for another instance creating the tables, then leaves its work alone', async () => {
    const database = await emptyDatabase(backend);
    let app;
    if (backend.name === 'sqlite') {
      const holder = await sqliteHolder(
        (database as { database: string }).database,
        createStatements(backend).concat(SENTINEL),
      );
      app = await startApp({ database, providers: [Echo] });
      const [code] = await holder.exited;
      expect(code).toBe(0);
    } else {
      const holder = await serverHolder(backend, database);
      const starting = startApp({ database, providers: [Echo] });
      await waitFor(() => holder.waitedFor(), 'the app to wait for the schema lock');
      await holder.finish();
      app = await starting;
    }
    try {
      const job = await app.get(JobsService).enqueue('lock.echo', null);
      expect(job.id).toBeGreaterThan(0);
      expect(await kindNames(database)).toEqual(['lock.echo', 'other.instance']);
    } finally {
      await app.close();
    }
  });
});
