import { Injectable } from '@nestjs/common';
import { JobKind } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import {
  csrfTokenOf,
  DashboardClient,
  ReportHandler,
  startDashboardApp,
  XSS,
  type DashboardApp,
} from './support/browser.js';
import { closeCleaners, freshDatabase } from './support/fixtures.js';

@Injectable()
class NightlyCleanup {
  @JobKind('cleanup.nightly', { cron: '0 3 * * *', timezone: 'Europe/Paris' })
  cleanup() {
    return undefined;
  }
}

afterAll(closeCleaners);

describeBackends('dashboard schedules', (backend) => {
  let dashboard: DashboardApp;
  let client: DashboardClient;

  beforeEach(async () => {
    dashboard = await startDashboardApp({
      database: await freshDatabase(backend),
      providers: [ReportHandler, NightlyCleanup],
    });
    client = new DashboardClient(dashboard.origin);
  });

  afterEach(() => dashboard.close());

  const toggle = async (key: string, action: string, token?: string) =>
    client.postForm('/jobs/schedules', [
      ['_csrf', token ?? csrfTokenOf((await client.get('/jobs/schedules')).text)],
      ['key', key],
      ['action', action],
    ]);

  it('lists declared and runtime schedules, escaped, and pauses and resumes them with their buttons', async () => {
    await dashboard.jobs.schedule(`report:${XSS}`, 'report.build', { month: XSS }, { every: '1h' });
    const page = await client.get('/jobs/schedules');
    expect(page.status).toBe(200);
    expect(page.text).toContain('data-schedule="cleanup.nightly"');
    expect(page.text).toContain('0 3 * * * (Europe/Paris)');
    expect(page.text).toContain('every 3600000 ms');
    expect(page.text).not.toContain('<script>alert(1)</script>');

    const paused = await toggle('cleanup.nightly', 'pause');
    expect(paused.status).toBe(303);
    expect(paused.headers.get('location')).toBe('/jobs/schedules');
    const [declared] = await dashboard.jobs.schedules({ kind: 'cleanup.nightly' });
    expect(declared).toMatchObject({ paused: true, status: 'paused' });
    const after = await client.get('/jobs/schedules');
    expect(after.text).toContain('Paused schedule cleanup.nightly.');
    expect(after.text).toMatch(/value="resume"\s+class=""\s+aria-label="resume cleanup\.nightly"/);

    expect((await toggle(`report:${XSS}`, 'pause')).status).toBe(303);
    expect((await toggle('cleanup.nightly', 'resume')).status).toBe(303);
    const states = (await dashboard.jobs.schedules()).map((s) => [s.key, s.paused]);
    expect(states).toEqual([
      ['cleanup.nightly', false],
      [`report:${XSS}`, true],
    ]);
  });

  it('refuses a pause without the guard or the CSRF token, and says so when the schedule does not exist', async () => {
    const forged = await client.postForm('/jobs/schedules', [
      ['key', 'cleanup.nightly'],
      ['action', 'pause'],
    ]);
    expect(forged.status).toBe(403);
    const stranger = new DashboardClient(dashboard.origin, {});
    expect((await stranger.get('/jobs/schedules')).status).toBe(401);
    const token = csrfTokenOf((await client.get('/jobs/schedules')).text);
    expect(
      (
        await stranger.postForm('/jobs/schedules', [
          ['_csrf', token],
          ['key', 'cleanup.nightly'],
          ['action', 'pause'],
        ])
      ).status,
    ).toBe(401);
    expect((await dashboard.jobs.schedules())[0].paused).toBe(false);

    expect((await toggle('no.such', 'pause')).status).toBe(303);
    expect((await client.get('/jobs/schedules')).text).toContain('There is no schedule');
    expect((await toggle('cleanup.nightly', 'stop')).status).toBe(400);
  });

  it('lists, pauses and resumes schedules through the JSON API', async () => {
    await dashboard.jobs.schedule(
      'report:acme',
      'report.build',
      { month: '2026-11' },
      { every: '1d' },
    );
    const listed = JSON.parse((await client.get('/jobs/api/schedules')).text);
    expect(listed.next).toBeNull();
    expect(listed.schedules.map((s: { key: string }) => s.key)).toEqual([
      'cleanup.nightly',
      'report:acme',
    ]);

    const paused = await client.postJson('/jobs/api/schedules', {
      key: 'report:acme',
      action: 'pause',
    });
    expect([paused.status, JSON.parse(paused.text)]).toEqual([
      200,
      { changed: true, message: 'Paused schedule report:acme.' },
    ]);
    expect((await dashboard.jobs.schedules({ kind: 'report.build' }))[0].paused).toBe(true);
    const again = await client.postJson('/jobs/api/schedules', {
      key: 'report:acme',
      action: 'pause',
    });
    expect(JSON.parse(again.text)).toMatchObject({ changed: false });
    expect(
      (await client.postJson('/jobs/api/schedules', { key: 'no.such', action: 'pause' })).status,
    ).toBe(404);
    // A form post (no JSON type) is refused: only a page's CSRF-checked form may post a form.
    const form = await client.postForm('/jobs/api/schedules', [
      ['key', 'report:acme'],
      ['action', 'resume'],
    ]);
    expect(form.status).toBe(403);
    expect((await dashboard.jobs.schedules({ kind: 'report.build' }))[0].paused).toBe(true);
  });

  it("skips a schedule's row when asked to cancel it, and says to pause it instead", async () => {
    const [schedule] = await dashboard.jobs.schedules();
    const list = await client.get('/jobs');
    const done = await client.postForm('/jobs/actions', [
      ['_csrf', csrfTokenOf(list.text)],
      ['action', 'cancel'],
      ['ids', String(schedule.id)],
    ]);
    expect(done.status).toBe(303);
    expect((await client.get('/jobs')).text).toContain('the schedule cleanup.nightly: pause it');
    expect(await dashboard.jobs.get(schedule.id)).toMatchObject({ status: 'pending' });
  });
});
