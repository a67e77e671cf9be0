/**
 * The schedule commands as an operator uses them: each command boots the app again (and so syncs the
 * declared schedules), so a pause must hold from one command to the next; the `run` after the pause
 * is a process of its own (test/support/cli-suite.ts). JOBS_TEST_CLI_ROOT names another build (a
 * folder holding dist/ and a copy of test/cli-app/) for a run that must not rebuild dist/.
 */
import { DataSource, type DataSourceOptions } from 'typeorm';
import { JOBS_ENTITIES, JOBS_MIGRATIONS, JobEntity } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import { cli as runCli, spawnCli } from './support/cli-suite.js';
import { closeCleaners, freshDatabase } from './support/fixtures.js';

/** The CLI (test/support/cli-suite.ts) with the app module of these tests. */
function cli(args: string[], database: DataSourceOptions) {
  return runCli([...args, '--module', 'schedules.module.mjs'], { database });
}

describeBackends('cli schedules', (backend) => {
  let database: DataSourceOptions;
  let source: DataSource;

  beforeAll(async () => {
    database = await freshDatabase(backend);
    source = new DataSource({
      ...database,
      entities: JOBS_ENTITIES,
      migrations: JOBS_MIGRATIONS,
      migrationsRun: true,
    });
    await source.initialize();
  });

  afterAll(async () => {
    await source?.destroy();
    await closeCleaners();
  });

  it('refuses to cancel a schedule, pauses it for good across commands, and resumes it', async () => {
    const listed = await cli(['schedules', '--json'], database);
    expect(listed.code).toBe(0);
    expect(listed.json).toEqual([
      expect.objectContaining({ key: 'cli.hourly', declared: true, paused: false }),
    ]);
    const id: number = listed.json[0].id;

    const cancel = await cli(['cancel', String(id)], database);
    expect(cancel.code).toBe(2);
    expect(cancel.stderr).toContain('pause-schedule cli.hourly');

    expect((await cli(['pause-schedule', 'cli.hourly'], database)).stdout).toContain(
      'paused schedule cli.hourly',
    );
    // Due long ago: only the pause keeps the next commands from running it.
    await source.getRepository(JobEntity).update(id, { runAt: new Date(Date.now() - 60_000) });
    // A process of its own: the pause is in the database, not in the host's memory.
    const run = await spawnCli(['run', '--json', '--module', 'schedules.module.mjs'], { database });
    expect(run.json).toMatchObject({ ran: 0 });
    const paused = await cli(['schedules'], database);
    expect(paused.stdout).toContain('cli.hourly (declared): every 3600000 ms; PAUSED');

    expect((await cli(['resume-schedule', 'cli.hourly', '--json'], database)).json).toEqual({
      schedule: 'cli.hourly',
      resumed: true,
    });
    const resumed = await cli(['schedules', '--json'], database);
    expect(resumed.json[0]).toMatchObject({ paused: false, status: 'pending' });
    expect(new Date(resumed.json[0].nextRunAt).getTime()).toBeGreaterThan(Date.now());

    const missing = await cli(['pause-schedule', 'no.such'], database);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('There is no schedule "no.such"');
  }, 180_000); // eight processes, each booting the app
});
