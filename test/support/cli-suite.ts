/**
 * The CLI as cron and operators use it, against a small app module (test/cli-app/, compiled
 * JavaScript on the built package). `cli()` runs a command through the built CLI's runCli in one
 * long-lived process per test file (test/support/cli-host.mjs: each command boots the app afresh and
 * closes it, as the binary does); `spawnCli()` spawns the binary itself (dist/cli/main.js), kept for
 * what only a process shows (help, exit codes, the module named by the environment). The suite per
 * backend is here, run by one file per backend (test/cli.spec.ts, cli-postgres.spec.ts,
 * cli-mariadb.spec.ts).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DataSource, type DataSourceOptions } from 'typeorm';
import type { TestingModule } from '@nestjs/testing';
import { JOBS_ENTITIES, JOBS_MIGRATIONS, JobEntity, JobsService } from 'nestjs-typeorm-jobs';
import { describeBackends, type Backend } from './backends.js';
import { closeCleaners, freshDatabase, startApp } from './fixtures.js';

// JOBS_TEST_CLI_ROOT: a copy of the repository with its own dist/ and test/cli-app/, to run this
// suite on a private build while others' process-based suites load the shared dist/.
const ROOT = process.env.JOBS_TEST_CLI_ROOT
  ? pathToFileURL(`${process.env.JOBS_TEST_CLI_ROOT}/`)
  : new URL('../../', import.meta.url);
const CLI = fileURLToPath(new URL('dist/cli/main.js', ROOT));
const HOST = fileURLToPath(new URL('test/support/cli-host.mjs', ROOT));
export const APP_DIR = fileURLToPath(new URL('test/cli-app/', ROOT));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed, for --json runs. */
  json: any;
}

interface CliOptions {
  database?: DataSourceOptions;
  input?: string;
  env?: Record<string, string>;
}

function parsed(code: number | null, stdout: string, stderr: string): CliRun {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr, json };
}

function environment(options: CliOptions): Record<string, string> {
  return { CLI_APP_DATABASE: JSON.stringify(options.database ?? {}), ...options.env };
}

/** Spawns the binary in test/cli-app/ (so `--module app.module.mjs` is relative, as a user types it). */
export function spawnCli(args: string[], options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: APP_DIR,
      env: { ...process.env, ...environment(options) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve(parsed(code, stdout, stderr)));
    child.stdin.end(options.input ?? '');
  });
}

let host: ChildProcess | undefined;
let sent = 0;
const waiting = new Map<number, { resolve(run: CliRun): void; reject(error: Error): void }>();

function cliHost(): ChildProcess {
  if (host) return host;
  const child = fork(HOST, [], { cwd: APP_DIR, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.on('message', (reply: { id: number; code: number; stdout: string; stderr: string }) => {
    waiting.get(reply.id)?.resolve(parsed(reply.code, reply.stdout, reply.stderr));
    waiting.delete(reply.id);
  });
  child.on('exit', (code, signal) => {
    if (host === child) host = undefined;
    for (const [id, pending] of waiting) {
      pending.reject(new Error(`the CLI host exited (${signal ?? code}) during command ${id}`));
      waiting.delete(id);
    }
  });
  host = child;
  return child;
}

/** Runs a command through the built CLI in this file's CLI host, in test/cli-app/. */
export function cli(args: string[], options: CliOptions = {}): Promise<CliRun> {
  const child = cliHost();
  const id = ++sent;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    child.send({ id, args, env: environment(options), input: options.input, cwd: APP_DIR });
  });
}

// Every file that imports this one ends its host with it.
afterAll(async () => {
  const child = host;
  if (!child) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.disconnect();
  await exited;
});

export const MODULE = ['--module', 'app.module.mjs'];

export function cliSuite(only: Backend[]): void {
  describeBackends(
    'cli',
    (backend) => {
      let database: DataSourceOptions;
      let source: DataSource;
      /** An app of our own, runner off, for jobs a test needs before the command it is about. */
      let producer: TestingModule;

      beforeAll(async () => {
        database = await freshDatabase(backend);
        // The tables are made here, by the migrations (on servers freshDatabase ran them already).
        source = new DataSource({
          ...database,
          entities: JOBS_ENTITIES,
          migrations: JOBS_MIGRATIONS,
          migrationsRun: true,
        });
        await source.initialize();
        producer = await startApp({
          database,
          jobs: { runner: false, kinds: ['cli.echo', 'cli.fail'] },
        });
      });

      beforeEach(async () => {
        await source.query('DELETE FROM nest_jobs');
      });

      afterAll(async () => {
        await producer?.close();
        await source?.destroy();
        await closeCleaners();
      });

      /**
       * Tests of what the CLI does before or apart from the database (parsing, the app's module,
       * its kinds) run on SQLite alone: a spawn costs a second or more of CPU, and CI's time is
       * bounded.
       */
      const once: typeof it =
        backend.name === 'sqlite' ? it : ((() => undefined) as unknown as typeof it);
      const run = (args: string[], input?: string) =>
        cli([...args, ...MODULE], { database, input });
      const job = (id: number) => source.getRepository(JobEntity).findOneByOrFail({ id });
      /** Enqueues in this process (a spawn costs a second or two: kept for the commands under test). */
      const enqueue = async (kind: string, data: unknown, options: { delay?: number } = {}) =>
        (
          await producer
            .get(JobsService)
            // cli.fail's handler (test/cli-app/shared.mjs) allows one attempt; this app has no handler.
            .enqueue(kind, data, { ...options, ...(kind === 'cli.fail' ? { maxAttempts: 1 } : {}) })
        ).id;

      it('enqueues from an argument and from stdin, and leaves the job to the runner (its own is off)', async () => {
        const fromArgument = await run(['enqueue', 'cli.echo', '{"to":"a@example.com"}', '--json']);
        expect(fromArgument.code).toBe(0);
        expect(fromArgument.json).toMatchObject({ kind: 'cli.echo', status: 'pending' });
        const fromStdin = await run(
          ['enqueue', 'cli.echo', '-', '--priority', '3', '--json'],
          '{"to":"b@example.com"}\n',
        );
        expect(fromStdin.code).toBe(0);
        const text = await run(
          ['enqueue', 'cli.echo', '-', '--text'],
          'From: c@example.com\n\nhello\n',
        );
        expect(text.code).toBe(0);
        expect(text.stdout).toMatch(/^enqueued job \d+ \(cli\.echo, pending/);

        expect(await job(fromArgument.json.id)).toMatchObject({
          status: 'pending',
          data: { to: 'a@example.com' },
        });
        expect(await job(fromStdin.json.id)).toMatchObject({
          status: 'pending',
          priority: 3,
          data: { to: 'b@example.com' },
        });
        const [{ n }] = await source.query(
          "SELECT COUNT(*) AS n FROM nest_jobs WHERE status = 'pending'",
        );
        expect(Number(n)).toBe(3);
      });

      once('rejects an unknown kind with exit code 2 and writes nothing', async () => {
        const unknown = await run(['enqueue', 'no.such.kind', '{}', '--json']);
        expect(unknown.code).toBe(2);
        expect(unknown.json.error).toContain('no.such.kind');
        expect(await source.getRepository(JobEntity).count()).toBe(0);
      });

      it('runs the due jobs once, exits 1 when one failed, and reports it', async () => {
        const echo = await enqueue('cli.echo', 'hi');
        const fail = await enqueue('cli.fail', {});
        const later = await enqueue('cli.echo', {}, { delay: 3_600_000 });
        const result = await run(['run', '--json']);
        expect(result.code).toBe(1);
        expect(result.json).toMatchObject({ ran: 2, succeeded: 1, failed: 1, snoozed: 0 });
        expect(await job(echo)).toMatchObject({ status: 'succeeded', result: { echoed: 'hi' } });
        expect(await job(fail)).toMatchObject({ status: 'failed' });
        expect(await job(later)).toMatchObject({ status: 'pending' });

        const again = await run(['run']);
        expect(again.code).toBe(0);
        expect(again.stdout).toContain('ran 0');
      });

      it('counts jobs per status and kind', async () => {
        await enqueue('cli.echo', 1);
        await enqueue('cli.fail', 2);
        await run(['run']);
        await enqueue('cli.echo', 3);
        const stats = await run(['stats', '--json']);
        expect(stats.code).toBe(0);
        expect(stats.json).toEqual({
          total: 3,
          byStatus: { pending: 1, running: 0, succeeded: 1, failed: 1, cancelled: 0, paused: 0 },
          byKind: { 'cli.echo': { pending: 1, succeeded: 1 }, 'cli.fail': { failed: 1 } },
        });
        const text = await run(['stats']);
        expect(text.stdout).toContain('total 3');
      });

      it('retries failed jobs, optionally of one kind', async () => {
        const fail = await enqueue('cli.fail', {});
        await run(['run']);
        expect((await job(fail)).status).toBe('failed');
        const none = await run(['retry-failed', '--kind', 'cli.echo', '--json']);
        expect(none.json).toEqual({ retried: 0, ids: [] });
        const retried = await run(['retry-failed', '--kind', 'cli.fail', '--json']);
        expect(retried.code).toBe(0);
        expect(retried.json).toEqual({ retried: 1, ids: [fail] });
        expect(await job(fail)).toMatchObject({ status: 'pending', attempts: 0 });
      });

      it('cancels a pending job; exit 1 for a finished one, 2 for an unknown id', async () => {
        const id = await enqueue('cli.echo', {}, { delay: 3_600_000 });
        const cancelled = await run(['cancel', String(id), '--json']);
        expect(cancelled.code).toBe(0);
        expect(cancelled.json).toEqual({ id, cancelled: true, status: 'cancelled' });
        expect((await job(id)).status).toBe('cancelled');
        const again = await run(['cancel', String(id)]);
        expect(again.code).toBe(1);
        expect(again.stdout).toContain('is cancelled');
        expect((await run(['cancel', '99999999'])).code).toBe(2);
      });

      once('takes a negative priority as the urgent case, spelt either way', async () => {
        const spaced = await run(['enqueue', 'cli.echo', '{}', '--priority', '-5', '--json']);
        expect(spaced.code).toBe(0);
        const joined = await run(['enqueue', 'cli.echo', '{}', '--priority=-7', '--json']);
        expect(joined.code).toBe(0);
        expect((await job(spaced.json.id)).priority).toBe(-5);
        expect((await job(joined.json.id)).priority).toBe(-7);
      });

      once('takes a compound duration, as the module does', async () => {
        const later = await run(['enqueue', 'cli.echo', '{}', '--delay', '1h30m', '--json']);
        expect(later.code).toBe(0);
        expect(new Date(later.json.runAt).getTime() - Date.now()).toBeGreaterThan(80 * 60_000);
      });

      it('says that a job id past the 32-bit column does not exist, with exit 2', async () => {
        for (const id of ['99999999999', '2147483648']) {
          const cancel = await run(['cancel', id, '--json']);
          expect([id, cancel.code]).toEqual([id, 2]);
          expect(cancel.json.error).toContain(`Job ${id} does not exist`);
        }
      });

      it('prunes finished jobs older than the given age, in batches, by status', async () => {
        for (const n of [1, 2, 3]) await enqueue('cli.echo', n);
        const failed = await enqueue('cli.fail', {});
        const pending = await enqueue('cli.echo', {}, { delay: 3_600_000 });
        await run(['run']);

        const young = await run(['prune', '--older-than', '7d', '--json']);
        expect(young.code).toBe(0);
        expect(young.json.deleted).toBe(0);

        // Wait until the finish times lie strictly in the past, then prune everything up to now.
        const [{ latest }] = await source.query('SELECT MAX(finished_at) AS latest FROM nest_jobs');
        while (Date.now() <= Number(latest)) await new Promise((resolve) => setTimeout(resolve, 5));
        const succeeded = await run([
          'prune',
          '--older-than',
          '0s',
          '--status',
          'succeeded',
          '--batch-size',
          '2',
          '--json',
        ]);
        expect(succeeded.code).toBe(0);
        expect(succeeded.json.deleted).toBe(3);
        const left = await source.getRepository(JobEntity).find({ order: { id: 'ASC' } });
        expect(left.map((row) => row.id)).toEqual([failed, pending]);

        const all = await run(['prune', '--older-than', '0s', '--json']);
        expect(all.json.deleted).toBe(1);
        expect((await source.getRepository(JobEntity).find()).map((row) => row.id)).toEqual([
          pending,
        ]);
      });

      once(
        'boots a configured dynamic module by its export name, and explains a bare forRoot() class',
        async () => {
          const bare = await cli(
            ['stats', '--module', 'configurable.module.mjs#ConfigurableAppModule', '--json'],
            { database },
          );
          expect(bare.code).toBe(2);
          expect(bare.json.error).toContain('forRoot');
          expect(bare.json.hint).toContain('JobsCliModule');
          const configured = await cli(
            ['stats', '--module', 'configurable.module.mjs#JobsCliModule', '--json'],
            { database },
          );
          expect(configured.code).toBe(0);
          expect(configured.json.total).toBe(0);
          // The binary itself, with the module named by the environment.
          const viaEnv = await spawnCli(['stats', '--json'], {
            database,
            env: { JOBS_CLI_MODULE: 'app.module.mjs' },
          });
          expect([viaEnv.code, viaEnv.json?.total]).toEqual([0, 0]);
        },
      );
    },
    only,
  );
}
