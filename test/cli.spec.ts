/**
 * The CLI as cron and operators use it: the built dist/cli/main.js spawned as a real process against
 * a small app module (test/cli-app/, compiled JavaScript on the built package).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { JOBS_ENTITIES, JOBS_MIGRATIONS, JobEntity } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase } from './support/fixtures.js';

// JOBS_TEST_CLI_ROOT: a copy of the repository with its own dist/ and test/cli-app/, to run this
// suite on a private build while others' process-based suites load the shared dist/.
const ROOT = process.env.JOBS_TEST_CLI_ROOT
  ? pathToFileURL(`${process.env.JOBS_TEST_CLI_ROOT}/`)
  : new URL('../', import.meta.url);
const CLI = fileURLToPath(new URL('dist/cli/main.js', ROOT));
const APP_DIR = fileURLToPath(new URL('test/cli-app/', ROOT));

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed, for --json runs. */
  json: any;
}

/** Spawns the CLI in test/cli-app/ (so `--module app.module.mjs` is relative, as a user types it). */
function cli(
  args: string[],
  options: { database?: DataSourceOptions; input?: string } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: APP_DIR,
      env: { ...process.env, CLI_APP_DATABASE: JSON.stringify(options.database ?? {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
    child.stdin.end(options.input ?? '');
  });
}

const MODULE = ['--module', 'app.module.mjs'];

describe('cli usage', () => {
  it('lists the commands with --help, and each command has its own --help', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['run', 'enqueue', 'stats', 'retry-failed', 'cancel', 'prune']) {
      expect(help.stdout).toContain(command);
    }
    const prune = await cli(['prune', '--help']);
    expect(prune.code).toBe(0);
    expect(prune.stdout).toContain('--older-than');
  });

  it('exits 2 on usage errors, before connecting to anything', async () => {
    expect((await cli([])).code).toBe(2);
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    expect((await cli(['prune', ...MODULE])).code).toBe(2);
    expect((await cli(['prune', '--older-than', 'soon', ...MODULE])).code).toBe(2);
    expect(
      (await cli(['prune', '--older-than', '1d', '--status', 'pending', ...MODULE])).code,
    ).toBe(2);
    expect((await cli(['cancel', 'abc', ...MODULE])).code).toBe(2);
    expect((await cli(['enqueue', 'cli.echo', '{not json', ...MODULE])).code).toBe(2);
    expect((await cli(['stats', '--no-such-option', ...MODULE])).code).toBe(2);
    const missing = await cli(['stats', '--module', 'nowhere.js', '--json']);
    expect(missing.code).toBe(2);
    expect(missing.json.error).toContain('cannot find the app module file');
  });
});

describeBackends('cli', (backend) => {
  let database: DataSourceOptions;
  let source: DataSource;

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
  });

  beforeEach(async () => {
    await source.query('DELETE FROM nest_jobs');
  });

  afterAll(async () => {
    await source?.destroy();
    await closeCleaners();
  });

  const run = (args: string[], input?: string) => cli([...args, ...MODULE], { database, input });
  const job = (id: number) => source.getRepository(JobEntity).findOneByOrFail({ id });

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

  it('rejects an unknown kind with exit code 2 and writes nothing', async () => {
    const unknown = await run(['enqueue', 'no.such.kind', '{}', '--json']);
    expect(unknown.code).toBe(2);
    expect(unknown.json.error).toContain('no.such.kind');
    expect(await source.getRepository(JobEntity).count()).toBe(0);
  });

  it('runs the due jobs once, exits 1 when one failed, and reports it', async () => {
    const echo = (await run(['enqueue', 'cli.echo', '"hi"', '--json'])).json.id;
    const fail = (await run(['enqueue', 'cli.fail', '{}', '--json'])).json.id;
    const later = (await run(['enqueue', 'cli.echo', '{}', '--delay', '1h', '--json'])).json.id;
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
    await run(['enqueue', 'cli.echo', '1']);
    await run(['enqueue', 'cli.fail', '2']);
    await run(['run']);
    await run(['enqueue', 'cli.echo', '3']);
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
    const fail = (await run(['enqueue', 'cli.fail', '{}', '--json'])).json.id;
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
    const id = (await run(['enqueue', 'cli.echo', '{}', '--delay', '1h', '--json'])).json.id;
    const cancelled = await run(['cancel', String(id), '--json']);
    expect(cancelled.code).toBe(0);
    expect(cancelled.json).toEqual({ id, cancelled: true, status: 'cancelled' });
    expect((await job(id)).status).toBe('cancelled');
    const again = await run(['cancel', String(id)]);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain('is cancelled');
    expect((await run(['cancel', '99999999'])).code).toBe(2);
  });

  it('takes a negative priority as the urgent case, spelt either way', async () => {
    const spaced = await run(['enqueue', 'cli.echo', '{}', '--priority', '-5', '--json']);
    expect(spaced.code).toBe(0);
    const joined = await run(['enqueue', 'cli.echo', '{}', '--priority=-7', '--json']);
    expect(joined.code).toBe(0);
    expect((await job(spaced.json.id)).priority).toBe(-5);
    expect((await job(joined.json.id)).priority).toBe(-7);
  });

  it('refuses values past what the database or a Date holds with exit 2, and writes nothing', async () => {
    for (const [args, names] of [
      [['--delay', '100000000d'], '--delay'],
      [['--delay', '1h30x'], '--delay'],
      [['--priority', '99999999999'], '--priority'],
      [['--priority', '-2147483649'], '--priority'],
      [['--max-attempts', '2147483648'], '--max-attempts'],
    ] as const) {
      const refused = await run(['enqueue', 'cli.echo', '{}', ...args, '--json']);
      expect([args, refused.code]).toEqual([args, 2]);
      expect(refused.json.error).toContain(names);
    }
    const deep = await run(['enqueue', 'cli.echo', `${'['.repeat(40)}${']'.repeat(40)}`, '--json']);
    expect(deep.code).toBe(2);
    expect(deep.json.error).toContain('nested 32 levels');
    expect(await source.getRepository(JobEntity).count()).toBe(0);
    // A compound duration is the same grammar as the module's.
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
    for (const n of [1, 2, 3]) await run(['enqueue', 'cli.echo', String(n)]);
    const failed = (await run(['enqueue', 'cli.fail', '{}', '--json'])).json.id;
    const pending = (await run(['enqueue', 'cli.echo', '{}', '--delay', '1h', '--json'])).json.id;
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
    expect((await source.getRepository(JobEntity).find()).map((row) => row.id)).toEqual([pending]);
  });

  it('boots a configured dynamic module by its export name, and explains a bare forRoot() class', async () => {
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
    const viaEnv = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'stats'], {
        cwd: APP_DIR,
        env: {
          ...process.env,
          CLI_APP_DATABASE: JSON.stringify(database),
          JOBS_CLI_MODULE: 'app.module.mjs',
        },
        stdio: 'ignore',
      });
      child.on('close', resolve);
    });
    expect(viaEnv).toBe(0);
  });
});
