/**
 * The queue commands as an operator uses them: `pause`, `resume` and `queues`, each booting the app
 * afresh (test/cli-app/app.module.mjs) in the CLI host, and one `run` in a process of its own, so a
 * pause must hold from one command to the next. Jobs are enqueued and states read in this process,
 * through the library, on the same database. JOBS_TEST_CLI_ROOT names another build (a folder
 * holding dist/ and a copy of test/cli-app/), as in test/cli.spec.ts.
 */
import type { TestingModule } from '@nestjs/testing';
import type { DataSourceOptions } from 'typeorm';
import { JobsService } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import { cli as runCli, spawnCli } from './support/cli-suite.js';
import { closeCleaners, freshDatabase, startApp } from './support/fixtures.js';

/** A name that is text a terminal must not take as layout: a tab, a newline, quotes, markup. */
const ODD_QUEUE = 'odd\t"queue"\n<b>';

/** The CLI (test/support/cli-suite.ts) with the app module of these tests. */
function cli(args: string[], database: DataSourceOptions) {
  return runCli([...args, '--module', 'app.module.mjs'], { database });
}

describeBackends('cli queues', (backend) => {
  let database: DataSourceOptions;
  let producer: TestingModule;
  let jobs: JobsService;

  beforeAll(async () => {
    database = await freshDatabase(backend);
    // Enqueues and reads only: the runner is off, so jobs run only when a `run` command runs them.
    producer = await startApp({ database, jobs: { runner: false, kinds: ['cli.echo'] } });
    jobs = producer.get(JobsService);
  });

  afterAll(async () => {
    await producer?.close();
    await closeCleaners();
  });

  it('pauses a queue for every command after, which `run` then skips, says when there is nothing to do, and resumes it', async () => {
    const held = await jobs.enqueue('cli.echo', { to: 'held' }, { queue: 'mail' });
    const other = await jobs.enqueue('cli.echo', { to: 'other' });

    const paused = await cli(['pause', 'mail', '--json'], database);
    expect([paused.code, paused.json]).toEqual([0, { queue: 'mail', paused: true }]);
    const again = await cli(['pause', 'mail'], database);
    expect([again.code, again.stdout]).toEqual([0, 'queue mail was paused already\n']);

    // A process of its own: the pause is in the database, not in the host's memory.
    const run = await spawnCli(['run', '--json', '--module', 'app.module.mjs'], { database });
    expect(run.json).toMatchObject({ ran: 1, succeeded: 1 });
    expect((await jobs.get(other.id))!.status).toBe('succeeded');
    expect((await jobs.get(held.id))!.status).toBe('pending');

    const resumed = await cli(['resume', 'mail'], database);
    expect([resumed.code, resumed.stdout]).toEqual([0, 'resumed queue mail\n']);
    expect((await jobs.queues()).find((queue) => queue.name === 'mail')?.paused).toBe(false);

    // Checked before the app boots: exit 2 with the rule, and nothing stored.
    const bad = await cli(['pause', 'q'.repeat(101)], database);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('a queue name of 1 to 100 characters');
    expect((await jobs.queues()).map((queue) => queue.name)).not.toContain('q'.repeat(101));
  }, 120_000);

  it('lists the queues as a table, names with control characters escaped, and as JobsService.queues() with --json', async () => {
    await jobs.enqueue('cli.echo', {}, { queue: ODD_QUEUE });
    await jobs.enqueue('cli.echo', {}, { queue: ODD_QUEUE });
    await jobs.pauseQueue(ODD_QUEUE);
    await jobs.pauseQueue('empty'); // paused before it holds any job: listed all the same
    const expected = await jobs.queues();
    expect(expected.map((queue) => queue.name)).toEqual(
      expect.arrayContaining(['empty', ODD_QUEUE]),
    );

    const text = await cli(['queues'], database);
    expect(text.code).toBe(0);
    const [header, ...rows] = text.stdout.trimEnd().split('\n');
    expect(header.split(/\s+/)).toEqual([
      'queue',
      'state',
      'pending',
      'running',
      'succeeded',
      'failed',
      'cancelled',
      'paused',
    ]);
    expect(rows.map((row) => row.split(/\s{2,}/))).toEqual(
      expected.map((queue) => [
        queue.name.replace('\t', '\\t').replace('\n', '\\n'),
        queue.paused ? 'PAUSED' : 'active',
        ...header
          .split(/\s+/)
          .slice(2)
          .map((status) => String(queue.counts[status as keyof typeof queue.counts])),
      ]),
    );
    expect(rows.find((row) => row.startsWith('odd'))).toMatch(
      /^odd\\t"queue"\\n<b>\s+PAUSED\s+2\s+0\s+0\s+0\s+0\s+0$/,
    );

    const json = await cli(['queues', '--json'], database);
    expect(json.code).toBe(0);
    expect(json.json).toEqual(JSON.parse(JSON.stringify(expected)));
  }, 120_000);
});
