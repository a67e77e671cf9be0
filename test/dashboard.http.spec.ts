import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { JobCancelledError, JobKind, JobsDashboardModule } from 'nestjs-typeorm-jobs';
import { backends, describeBackends } from './support/backends.js';
import {
  BasicAuthGuard,
  csrfTokenOf,
  DashboardClient,
  HostileHandler,
  ImportHandler,
  ReportHandler,
  startDashboardApp,
  XSS,
  type DashboardApp,
} from './support/browser.js';
import { closeCleaners, freshDatabase, quietLogger, waitFor } from './support/fixtures.js';

afterAll(closeCleaners);

describeBackends('dashboard over HTTP', (backend) => {
  let dashboard: DashboardApp;
  let client: DashboardClient;

  beforeEach(async () => {
    ReportHandler.failing = true;
    dashboard = await startDashboardApp({
      database: await freshDatabase(backend),
      providers: [ReportHandler, HostileHandler],
    });
    client = new DashboardClient(dashboard.origin);
  });

  afterEach(() => dashboard.close());

  const status = async (id: number) => (await dashboard.jobs.get(id))?.status;

  it('answers nothing, and changes nothing, until the guard lets the request through', async () => {
    const job = await dashboard.jobs.enqueue(
      'email.send',
      { to: 'a@example.com', subject: 'hi' },
      { delay: 60_000 },
    );
    const signedIn = new DashboardClient(dashboard.origin);
    const token = csrfTokenOf((await signedIn.get('/jobs')).text);
    for (const headers of [
      {} as Record<string, string>,
      { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` },
    ]) {
      const stranger = new DashboardClient(dashboard.origin, headers);
      for (const path of [
        '/jobs',
        `/jobs/jobs/${job.id}`,
        '/jobs/kinds',
        '/jobs/api/jobs',
        `/jobs/api/jobs/${job.id}`,
        '/jobs/api/kinds',
        '/jobs/api/stats',
        `/jobs/api/progress?ids=${job.id}`,
      ]) {
        const reply = await stranger.get(path);
        expect([path, reply.status]).toEqual([path, 401]);
        expect(reply.text).not.toContain('a@example.com');
      }
      expect(
        (
          await stranger.postForm('/jobs/actions', [
            ['_csrf', token],
            ['action', 'delete'],
            ['ids', String(job.id)],
          ])
        ).status,
      ).toBe(401);
      expect(
        (await stranger.postJson('/jobs/api/jobs/actions', { action: 'cancel', ids: [job.id] }))
          .status,
      ).toBe(401);
      expect((await stranger.postJson('/jobs/api/run-pending', {})).status).toBe(401);
    }
    expect(await status(job.id)).toBe('pending');
    const page = await new DashboardClient(dashboard.origin, {}).get('/jobs');
    expect(page.headers.get('www-authenticate')).toBe('Basic realm="jobs"');
    expect(page.text).not.toContain('name="_csrf"');
  });

  it('lists jobs with their fields, filters, order, counts and keyset pages', async () => {
    const mail = await dashboard.jobs.enqueueMany(
      Array.from({ length: 5 }, (_, i) => ({
        kind: 'email.send',
        data: { to: `user${i}@example.com`, subject: 'Welcome' },
        delay: 60_000,
      })),
    );
    const periodic = await dashboard.jobs.enqueue(
      'report.build',
      { month: '2026-10' },
      { queue: 'reports', periodic: true, interval: 3_600_000, delay: 60_000 },
    );
    const list = await client.get('/jobs');
    expect(list.status).toBe(200);
    expect(list.headers.get('content-type')).toContain('text/html');
    for (const heading of [
      'Kind',
      'Data',
      'Created',
      'Status',
      'Active',
      'Periodic',
      'Attempts',
      'Last run',
      'Next run',
    ]) {
      expect(list.text).toContain(`<th>${heading}</th>`);
    }
    expect(list.text).toContain('{&quot;to&quot;:&quot;user4@example.com&quot;');
    expect(list.text).toContain('<span data-count="pending">6</span>');

    const api = async (query: string) =>
      JSON.parse((await client.get(`/jobs/api/jobs${query}`)).text);
    expect((await api('?kind=report.build')).jobs.map((j: { id: number }) => j.id)).toEqual([
      periodic.id,
    ]);
    expect((await api('?queue=reports')).jobs).toHaveLength(1);
    expect((await api('?periodic=true')).jobs.map((j: { id: number }) => j.id)).toEqual([
      periodic.id,
    ]);
    expect((await api('?periodic=false')).jobs).toHaveLength(5);
    expect((await api('?status=failed')).jobs).toHaveLength(0);
    expect((await api('?kind=email.send')).counts).toEqual({
      pending: 5,
      running: 0,
      succeeded: 0,
      failed: 0,
      cancelled: 0,
      paused: 0,
    });

    const ids = mail.map((job) => job.id);
    const first = await api('?kind=email.send&order=oldest&limit=2');
    expect(first.jobs.map((j: { id: number }) => j.id)).toEqual(ids.slice(0, 2));
    expect(first.previous).toBeNull();
    const second = await api(`?kind=email.send&order=oldest&limit=2&after=${first.next}`);
    expect(second.jobs.map((j: { id: number }) => j.id)).toEqual(ids.slice(2, 4));
    const third = await api(`?kind=email.send&order=oldest&limit=2&after=${second.next}`);
    expect(third.jobs.map((j: { id: number }) => j.id)).toEqual(ids.slice(4));
    expect(third.next).toBeNull();
    const back = await api(`?kind=email.send&order=oldest&limit=2&before=${third.previous}`);
    expect(back.jobs.map((j: { id: number }) => j.id)).toEqual(ids.slice(2, 4));
    const newest = await api('?kind=email.send&limit=2');
    expect(newest.jobs.map((j: { id: number }) => j.id)).toEqual([ids[4], ids[3]]);

    const html = await client.get(`/jobs?kind=email.send&order=oldest&after=${first.next}`);
    expect(html.text).toContain('rel="prev"');
    expect((await client.get('/jobs?status=bogus')).status).toBe(400);
    expect((await client.get('/jobs/api/jobs?after=1&before=2')).status).toBe(400);
  });

  it('shows a failed job: pretty data, logs, every attempt error, timestamps, lease fields', async () => {
    const job = await dashboard.jobs.enqueue('report.build', { month: '2026-11' });
    await waitFor(async () => (await status(job.id)) === 'failed', 'the report to fail');
    const page = await client.get(`/jobs/jobs/${job.id}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('{\n  &quot;month&quot;: &quot;2026-11&quot;\n}');
    expect(page.text).toContain('building the report for 2026-11');
    expect(page.text).toMatch(
      /attempt 1 of 1 \(started [^)]+\) failed: Error: the ledger for 2026-11 is locked/,
    );
    expect(page.text).toContain('<pre id="last-error">Error: the ledger for 2026-11 is locked');
    for (const field of [
      'Created',
      'Next run',
      'Last run',
      'Finished',
      'Locked by',
      'Locked until',
    ]) {
      expect(page.text).toContain(`<dt>${field}</dt>`);
    }
    const json = JSON.parse((await client.get(`/jobs/api/jobs/${job.id}`)).text);
    expect(json).toMatchObject({
      id: job.id,
      status: 'failed',
      kind: 'report.build',
      lockedBy: null,
    });
    expect((await client.get('/jobs/jobs/999999')).status).toBe(404);
    expect((await client.get('/jobs/api/jobs/999999')).status).toBe(404);
  });

  it('escapes job data, logs, errors and kind names everywhere', async () => {
    const job = await dashboard.jobs.enqueue(XSS, { html: XSS });
    await waitFor(async () => (await status(job.id)) === 'failed', 'the hostile job to fail');
    for (const path of [
      '/jobs',
      `/jobs/jobs/${job.id}`,
      '/jobs/kinds',
      `/jobs?kind=${encodeURIComponent(XSS)}`,
    ]) {
      const page = await client.get(path);
      expect([path, page.status]).toEqual([path, 200]);
      expect(page.text).not.toContain('<script>alert(1)');
      expect(page.text).not.toContain('</pre><script>');
      expect(page.text).toContain('&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(page.headers.get('content-security-policy')).toMatch(/script-src 'nonce-[^']+'/);
    }
    const error = await client.get(`/jobs?queue=${encodeURIComponent(XSS)}`);
    expect(error.text).not.toContain('<script>alert(1)');
  });

  it('refuses form posts without a valid CSRF token, and reports what an action did', async () => {
    const job = await dashboard.jobs.enqueue(
      'email.send',
      { to: 'b@example.com', subject: 'x' },
      { delay: 60_000 },
    );
    const page = await client.get('/jobs');
    const token = csrfTokenOf(page.text);
    const fields = (csrf?: string): Array<[string, string]> => [
      ...(csrf === undefined ? [] : ([['_csrf', csrf]] as Array<[string, string]>)),
      ['action', 'cancel'],
      ['ids', String(job.id)],
    ];
    expect((await client.postForm('/jobs/actions', fields())).status).toBe(403);
    expect((await client.postForm('/jobs/actions', fields(token.slice(1) + 'A'))).status).toBe(403);
    // A token is bound to its browser's cookie: another browser's token does not pass.
    const other = new DashboardClient(dashboard.origin);
    expect((await other.postForm('/jobs/actions', fields(token))).status).toBe(403);
    expect(
      (
        await client.request('/jobs/actions', {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'sec-fetch-site': 'cross-site',
          },
          body: new URLSearchParams(fields(token)).toString(),
        })
      ).status,
    ).toBe(403);
    expect((await client.postForm('/jobs/api/jobs/actions', fields(token))).status).toBe(403);
    expect(await status(job.id)).toBe('pending');

    const done = await client.postForm('/jobs/actions', [
      ...fields(token),
      ['return', `/jobs/jobs/${job.id}`],
    ]);
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(`/jobs/jobs/${job.id}`);
    expect(await status(job.id)).toBe('cancelled');
    const after = await client.get(`/jobs/jobs/${job.id}`);
    expect(after.text).toContain(`Cancelled 1 job (#${job.id}).`);
    expect((await client.get(`/jobs/jobs/${job.id}`)).text).not.toContain('Cancelled 1 job');

    const offsite = await client.postForm('/jobs/actions', [
      ...fields(token),
      ['return', 'https://evil.example/'],
    ]);
    expect(offsite.headers.get('location')).toBe('/jobs');
    expect((await client.get('/jobs')).text).toContain(`skipped 1 (#${job.id} is cancelled)`);
  });

  it('sends back only to pages under the dashboard, however the return path is spelled', async () => {
    const job = await dashboard.jobs.enqueue(
      'email.send',
      { to: 'r@example.com', subject: 'x' },
      { delay: 60_000 },
    );
    const token = csrfTokenOf((await client.get('/jobs')).text);
    const back = async (to: string) => {
      const reply = await client.postForm('/jobs/actions', [
        ['_csrf', token],
        ['action', 'cancel'],
        ['ids', String(job.id)],
        ['return', to],
      ]);
      return reply.headers.get('location') ?? `status ${reply.status}`;
    };
    for (const to of [
      '/jobs/../admin/delete',
      '/jobs/%2e%2e/admin/delete',
      '/jobs/%2E%2E/admin/delete',
      '/jobs/.%2e/admin',
      '/jobs/%2e./admin',
      '/jobs/./../admin',
      '/jobs%2f..%2fadmin',
      '/jobs\\..\\admin',
      '/jobs/..\\admin',
      '/jobs//evil.example/',
      '//evil.example/jobs',
      '/jobsadmin',
      '/jobs/kinds/..',
      'jobs/kinds',
      '/jobs/kinds#x',
    ]) {
      expect([to, await back(to)]).toEqual([to, '/jobs']);
    }
    for (const to of [
      '/jobs',
      '/jobs/kinds',
      `/jobs/jobs/${job.id}`,
      '/jobs?status=failed&kind=a.b',
    ]) {
      expect([to, await back(to)]).toEqual([to, to]);
    }
  });

  it('answers 404 for an id no job can have, and names a malformed parameter', async () => {
    for (const path of [
      '/jobs/jobs/9999999999',
      '/jobs/api/jobs/9999999999',
      '/jobs/jobs/2147483648/data',
    ]) {
      expect([path, (await client.get(path)).status]).toEqual([path, 404]);
    }
    expect((await client.get('/jobs/jobs/2147483647')).status).toBe(404);
    const cursor = await client.get('/jobs/api/jobs?after=9999999999');
    expect(cursor.status).toBe(400);
    expect(cursor.text).toContain('\\"after\\" must be a job id');
    const limit = await client.get('/jobs/api/jobs?limit=abc');
    expect(limit.status).toBe(400);
    expect(limit.text).toContain('\\"limit\\" must be an integer from 1 to 500');
    expect(limit.text).not.toContain('job id');
    expect((await client.get('/jobs/api/jobs?limit=501')).status).toBe(400);
    for (const path of [
      '/jobs/api/jobs?queue=%00',
      '/jobs?kind=a%00b',
      '/jobs/api/stats?queue=%00',
    ]) {
      const reply = await client.get(path);
      expect([path, reply.status]).toEqual([path, 400]);
    }
    expect((await client.get('/jobs/api/jobs?limit=500')).status).toBe(200);
  });

  it('runs now, retries, cancels and deletes selected jobs, and runs pending jobs', async () => {
    const later = await dashboard.jobs.enqueue(
      'email.send',
      { to: 'c@example.com', subject: 'later' },
      { delay: 3_600_000 },
    );
    const report = await dashboard.jobs.enqueue('report.build', { month: '2026-09' });
    await waitFor(async () => (await status(report.id)) === 'failed', 'the report to fail');
    const act = (action: string, ids: number[]) =>
      client.postJson('/jobs/api/jobs/actions', { action, ids });

    const run = JSON.parse((await act('run', [later.id, 999_999])).text);
    expect(run).toMatchObject({ action: 'run', done: [later.id], missing: [999_999] });
    await waitFor(
      async () => (await status(later.id)) === 'succeeded',
      'the delayed job to run now',
    );

    ReportHandler.failing = false;
    const retried = JSON.parse((await act('retry', [report.id, later.id])).text);
    expect(retried).toMatchObject({
      done: [report.id],
      skipped: [{ id: later.id, reason: 'succeeded' }],
    });
    expect(retried.message).toBe(
      `Retried 1 job (#${report.id}); skipped 1 (#${later.id} is succeeded).`,
    );
    const succeeded = await waitFor(async () => {
      const job = await dashboard.jobs.get(report.id);
      return job?.status === 'succeeded' ? job : null;
    }, 'the retried report to succeed');
    expect(succeeded.result).toEqual({ pages: 12 });

    const waiting = await dashboard.jobs.enqueue(
      'email.send',
      { to: 'd@example.com', subject: 'x' },
      { delay: 3_600_000 },
    );
    expect(JSON.parse((await act('cancel', [waiting.id])).text).done).toEqual([waiting.id]);
    const deleted = JSON.parse((await act('delete', [waiting.id, later.id])).text);
    expect(deleted.done.sort()).toEqual([waiting.id, later.id].sort());
    expect(await dashboard.jobs.get(waiting.id)).toBeNull();
    expect((await act('explode', [1])).status).toBe(400);
    expect((await act('delete', [])).status).toBe(400);

    const pending = await client.postJson('/jobs/api/run-pending', {});
    expect(pending.status).toBe(200);
    expect(JSON.parse(pending.text)).toMatchObject({
      ran: expect.any(Number),
      message: expect.stringMatching(/^Ran \d+ jobs? in this instance/),
    });
    const token = csrfTokenOf((await client.get('/jobs')).text);
    const form = await client.postForm('/jobs/run-pending', [['_csrf', token]]);
    expect(form.status).toBe(303);
    expect((await client.get('/jobs')).text).toMatch(/Ran \d+ jobs? in this instance/);
  });

  it('lists kinds with whether they resolve here and their counts, and charts finished jobs per minute', async () => {
    const done = await dashboard.jobs.enqueue('email.send', { to: 'e@example.com', subject: 'x' });
    const failed = await dashboard.jobs.enqueue('report.build', { month: '2026-08' });
    await waitFor(
      async () => (await status(done.id)) === 'succeeded' && (await status(failed.id)) === 'failed',
      'both jobs to finish',
    );
    const kinds = JSON.parse((await client.get('/jobs/api/kinds')).text) as Array<{
      name: string;
      resolves: boolean;
      counts: Record<string, number>;
    }>;
    expect(kinds.find((k) => k.name === 'email.send')).toMatchObject({
      resolves: true,
      counts: { succeeded: 1, failed: 0 },
    });
    expect(kinds.find((k) => k.name === 'report.build')).toMatchObject({
      resolves: true,
      counts: { failed: 1 },
    });
    const page = await client.get('/jobs/kinds');
    for (const heading of ['Name', 'Created', 'Modified', 'Resolves here'])
      expect(page.text).toContain(`<th>${heading}</th>`);

    const stats = JSON.parse((await client.get('/jobs/api/stats')).text);
    expect(stats.finishedPerMinute).toHaveLength(60);
    const totals = stats.finishedPerMinute.reduce(
      (sum: { s: number; f: number }, b: { succeeded: number; failed: number }) => ({
        s: sum.s + b.succeeded,
        f: sum.f + b.failed,
      }),
      { s: 0, f: 0 },
    );
    expect(totals).toEqual({ s: 1, f: 1 });
    expect((await client.get('/jobs')).text).toContain('1 succeeded, 1 failed');
  });
});

describeBackends('dashboard: progress of running jobs, over HTTP', (backend) => {
  let dashboard: DashboardApp;
  let client: DashboardClient;

  beforeEach(async () => {
    dashboard = await startDashboardApp({
      database: await freshDatabase(backend),
      providers: [ImportHandler],
    });
    client = new DashboardClient(dashboard.origin);
  });

  afterEach(async () => {
    ImportHandler.finishAll();
    await dashboard.close();
  });

  /** An `import.rows` job, running. */
  async function running(file: string): Promise<number> {
    const job = await dashboard.jobs.enqueue('import.rows', { file });
    await waitFor(
      async () => (await dashboard.jobs.get(job.id))?.status === 'running',
      `${file} to start`,
    );
    return job.id;
  }

  /** Has the handler report `value` with `job.progress()`, and waits until it is stored. */
  async function report(id: number, value: unknown): Promise<void> {
    ImportHandler.run(id).give({ progress: value });
    const stored = JSON.stringify(value);
    await waitFor(
      async () => JSON.stringify((await dashboard.jobs.get(id))?.progress) === stored,
      `job ${id}'s progress to be ${stored}`,
    );
  }

  /** The progress cell (list) or field (job page) of job `id`, as served. */
  function progressOf(page: string, id: number): string {
    const match = new RegExp(
      `<div class="progress" data-progress="(?:list|detail)" data-job-id="${id}">([\\s\\S]*?)</div>`,
    ).exec(page);
    if (!match) throw new Error(`no progress of job ${id} on the page`);
    return match[1];
  }

  it('shows a number as a bar with its value, clamped to 0-100, in the list and on the job page', async () => {
    const id = await running('customers.csv');
    const before = await client.get(`/jobs/jobs/${id}`);
    expect(progressOf(before.text, id)).toContain('<span class="muted">–</span>');

    await report(id, 42.25);
    const list = await client.get('/jobs');
    expect(list.text).toContain('<th>Progress</th>');
    for (const page of [list.text, (await client.get(`/jobs/jobs/${id}`)).text]) {
      const cell = progressOf(page, id);
      expect(cell).toMatch(
        new RegExp(`<progress max="100" value="42.3" aria-label="Progress of job #${id}"`),
      );
      expect(cell).toContain('<span class="progress-value">42.3%</span>');
    }
    // The running row and page are marked for the live refresh.
    expect(list.text).toMatch(
      new RegExp(`<tr\\s+data-job="${id}"\\s+data-status="running"\\s+data-live="${id}"`),
    );

    await report(id, 250);
    expect(progressOf((await client.get(`/jobs/jobs/${id}`)).text, id)).toContain('value="100"');
    await report(id, -3);
    expect(progressOf((await client.get('/jobs')).text, id)).toContain('value="0"');

    // The last value stays after the run, without the live marks.
    await report(id, 100);
    ImportHandler.run(id).give({ finish: { rows: 1200 } });
    await waitFor(
      async () => (await dashboard.jobs.get(id))?.status === 'succeeded',
      'the import to succeed',
    );
    const done = await client.get(`/jobs/jobs/${id}`);
    expect(progressOf(done.text, id)).toContain('<span class="progress-value">100%</span>');
    expect(done.text).not.toContain('data-live=');
    expect((await client.get('/jobs')).text).not.toContain('data-live=');
  });

  it('shows any other JSON as escaped JSON, cut short in the list, whole on the job page', async () => {
    const id = await running('orders.csv');
    const value = { stage: XSS, done: 3, of: 8, note: 'x'.repeat(100) };
    await report(id, value);
    const json = JSON.stringify(value);
    const escape = (text: string) =>
      text
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/"/g, '&quot;');

    const list = await client.get('/jobs');
    const cell = progressOf(list.text, id);
    expect(cell).toContain(`>${escape(json.slice(0, 60))}…</code`);
    expect(cell).toContain(`title="${escape(json)}"`);
    expect(cell).not.toContain('<progress');

    const page = await client.get(`/jobs/jobs/${id}`);
    expect(progressOf(page.text, id)).toContain(
      `<pre class="progress-json">${escape(JSON.stringify(value, null, 2))}</pre>`,
    );
    for (const text of [list.text, page.text]) {
      expect(text).not.toContain('<script>alert(1)');
      expect(text).toContain('&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    }
    // A JSON string is shown as JSON too, escaped.
    await report(id, `${XSS} step 2`);
    const again = await client.get(`/jobs/jobs/${id}`);
    expect(progressOf(again.text, id)).toContain(
      `<pre class="progress-json">${escape(JSON.stringify(`${XSS} step 2`))}</pre>`,
    );
    expect(again.text).not.toContain('<script>alert(1)');
  });

  it("answers the live refresh with each job's status and progress (api/progress, guarded)", async () => {
    const a = await running('a.csv');
    const b = await running('b.csv');
    await report(a, 12.5);
    await report(b, { stage: 'upload' });
    const pending = await dashboard.jobs.enqueue(
      'import.rows',
      { file: 'c.csv' },
      { delay: 60_000 },
    );

    const reply = await client.get(`/jobs/api/progress?ids=${a},${b},${pending.id},999999`);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('cache-control')).toBe('no-store');
    const { jobs } = JSON.parse(reply.text) as { jobs: Array<{ id: number }> };
    expect(jobs.sort((x, y) => x.id - y.id)).toEqual([
      { id: a, status: 'running', progress: 12.5, percent: 12.5 },
      { id: b, status: 'running', progress: { stage: 'upload' }, percent: null },
      { id: pending.id, status: 'pending', progress: null, percent: null },
    ]);

    ImportHandler.run(a).give({ finish: null });
    await waitFor(async () => {
      const [job] = JSON.parse((await client.get(`/jobs/api/progress?ids=${a}`)).text).jobs;
      return job.status === 'succeeded' && job.progress === 12.5;
    }, 'the refresh to show the end, with the last progress');

    const stranger = new DashboardClient(dashboard.origin, {});
    const refused = await stranger.get(`/jobs/api/progress?ids=${b}`);
    expect(refused.status).toBe(401);
    expect(refused.text).not.toContain('upload');
    for (const query of ['', '?ids=', '?ids=abc', '?ids=1,x', `?ids=${'1,'.repeat(501)}1`]) {
      const bad = await client.get(`/jobs/api/progress${query}`);
      expect([query.slice(0, 20), bad.status]).toEqual([query.slice(0, 20), 400]);
    }
  });

  it("cancels a running job from its page: it asks first, the handler's signal aborts, its outcome is dropped", async () => {
    const id = await running('huge.csv');
    await report(id, 30);
    const page = await client.get(`/jobs/jobs/${id}`);
    // Only the action that applies to a running job, and it says what it does.
    expect(page.text.match(/<button\s+type="submit"\s+name="action"\s+value="(\w+)"/g)).toEqual([
      expect.stringContaining('value="cancel"'),
    ]);
    expect(page.text).toContain(
      `data-confirm="Cancel job #${id} while it runs? Its handler will be asked to stop (its signal aborts), and whatever the run returns will be dropped."`,
    );
    expect(page.text).toContain(
      'id="cancel-note">This job is running. Cancelling it asks its handler to stop (its signal aborts) and drops whatever the run returns.</p>',
    );

    const done = await client.postForm('/jobs/actions', [
      ['_csrf', csrfTokenOf(page.text)],
      ['action', 'cancel'],
      ['ids', String(id)],
      ['return', `/jobs/jobs/${id}`],
    ]);
    expect(done.status).toBe(303);
    const run = ImportHandler.run(id);
    await run.returned;
    expect(run.abortReason).toBeInstanceOf(JobCancelledError);
    const job = await dashboard.jobs.get(id);
    // The handler returned 'stopped' after its signal aborted: that outcome was dropped.
    expect(job).toMatchObject({ status: 'cancelled', result: null, progress: 30, lockedBy: null });
    const after = await client.get(`/jobs/jobs/${id}`);
    expect(after.text).toContain(`Cancelled 1 job (#${id}).`);
    expect(after.text).not.toContain('data-live=');
    expect(after.text).not.toContain('id="cancel-note"');
    expect(after.text).toContain('value="retry"');

    // In the list, Cancel asks first only when a selected job is running (the script reads this).
    const list = await client.get('/jobs');
    expect(list.text).toMatch(
      /value="cancel"\s+class="secondary"\s+data-confirm="Cancel the selected jobs\? A running one&#39;s handler will be asked to stop \(its signal aborts\), and whatever its run returns will be dropped\."\s+data-confirm-running/,
    );
  });
});

/** A kind limited per group and as a whole, its name markup and quotes. */
const SYNC = `account.sync</td><i>"s'`;

/** Lets the runs it holds end when opened. */
class Gate {
  private opened!: () => void;
  readonly passed = new Promise<void>((resolve) => (this.opened = resolve));
  open(): void {
    this.opened();
  }
}

@Injectable()
class LimitedHandlers {
  static gate = new Gate();

  /** One run per account at a time, two in all; each run lasts until the gate opens. */
  @JobKind(SYNC, { concurrency: 2, group: { concurrency: 1 } })
  async sync() {
    await LimitedHandlers.gate.passed;
    return 'synced';
  }

  @JobKind('digest.mail', { rateLimit: { limit: 1, per: '1h' } })
  mail() {
    return 'sent';
  }

  @JobKind('digest.build')
  build() {
    return 'built';
  }
}

describeBackends(
  'dashboard: why a pending job waits, and the limits of kinds, over HTTP',
  (backend) => {
    let dashboard: DashboardApp;
    let client: DashboardClient;

    beforeEach(async () => {
      LimitedHandlers.gate = new Gate();
      dashboard = await startDashboardApp({
        database: await freshDatabase(backend),
        providers: [LimitedHandlers],
      });
      client = new DashboardClient(dashboard.origin);
    });

    afterEach(async () => {
      LimitedHandlers.gate.open();
      await dashboard.close();
    });

    const job = (id: number) => dashboard.jobs.get(id);
    const reachStatus = (id: number, status: string) =>
      waitFor(async () => (await job(id))?.status === status, `job ${id} to be ${status}`);

    /** The list's row of job `id`. */
    async function listRow(id: number): Promise<string> {
      const list = (await client.get('/jobs')).text;
      expect(list).not.toContain('<script>alert(1)');
      expect(list).not.toContain('<i>"s');
      const row = new RegExp(`<tr data-job="${id}"[\\s\\S]*?</tr>`).exec(list);
      if (!row) throw new Error(`no row of job ${id} in the list`);
      return row[0];
    }

    it('says in the list and on its page why a due job waits for a slot of its group or kind, escaped, until a slot frees', async () => {
      const jobs = dashboard.jobs;
      const first = await jobs.enqueue(SYNC, {}, { group: XSS });
      await reachStatus(first.id, 'running');

      // The same group: its one slot is taken.
      const sameGroup = await jobs.enqueue(SYNC, {}, { group: XSS });
      expect((await job(sameGroup.id))!.waiting).toEqual({
        reason: 'group-concurrency',
        message: `1 of 1 jobs of group "${XSS}" allowed at once are running`,
      });
      const escapedGroup = '&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;';
      const row = await listRow(sameGroup.id);
      expect(row).toContain('data-waiting="group-concurrency"');
      expect(row).toContain('waits: group at its concurrency limit');
      expect(row).toContain(
        `title="waits: 1 of 1 jobs of group &quot;${escapedGroup}&quot; allowed at once are running"`,
      );
      expect(row).toContain(`data-group title="group">· ${escapedGroup}</span>`);
      const page = (await client.get(`/jobs/jobs/${sameGroup.id}`)).text;
      expect(page).not.toContain('<script>alert(1)');
      expect(page).toContain(`<dd data-group>${escapedGroup}</dd>`);
      expect(page).toContain(
        `data-waiting-message>1 of 1 jobs of group &quot;${escapedGroup}&quot; allowed at once are running</span`,
      );
      // The JSON API says it too, as get() does.
      const api = JSON.parse((await client.get('/jobs/api/jobs')).text) as {
        jobs: Array<{ id: number; group: string | null; waiting: unknown }>;
      };
      expect(api.jobs.find((j) => j.id === sameGroup.id)).toMatchObject({
        group: XSS,
        waiting: { reason: 'group-concurrency' },
      });
      expect(api.jobs.find((j) => j.id === first.id)).toMatchObject({ waiting: null });

      // Another group's job is not held back by it, and takes the kind's second slot...
      const other = await jobs.enqueue(SYNC, {}, { group: 'account:2' });
      await reachStatus(other.id, 'running');
      // ...so a third group's job waits for the kind.
      const third = await jobs.enqueue(SYNC, {}, { group: 'account:3' });
      const kindWide = {
        reason: 'concurrency',
        message: `2 of 2 jobs of kind "${SYNC}" allowed at once are running`,
      };
      expect((await job(third.id))!.waiting).toEqual(kindWide);
      const thirdRow = await listRow(third.id);
      expect(thirdRow).toContain('data-waiting="concurrency"');
      expect(thirdRow).toContain(
        'title="waits: 2 of 2 jobs of kind &quot;account.sync&lt;/td&gt;&lt;i&gt;&quot;s&#39;&quot; allowed at once are running"',
      );
      expect((await client.get(`/jobs/jobs/${third.id}`)).text).toContain(
        'data-waiting="concurrency"',
      );

      LimitedHandlers.gate.open();
      for (const { id } of [first, sameGroup, other, third]) await reachStatus(id, 'succeeded');
      const ran = (await client.get(`/jobs/jobs/${sameGroup.id}`)).text;
      expect(ran).not.toContain('data-waiting');
      expect(await listRow(third.id)).not.toContain('data-waiting');
    });

    it('says a job waits for its rate limit, and shows the limits of each kind on the kinds page, escaped', async () => {
      const jobs = dashboard.jobs;
      const sent = await jobs.enqueue('digest.mail', {});
      await reachStatus(sent.id, 'succeeded');
      const held = await jobs.enqueue('digest.mail', {});
      expect((await job(held.id))!.waiting).toEqual({
        reason: 'rate-limit',
        message: 'kind "digest.mail" started 1 of 1 jobs allowed per 1h',
      });
      const row = await listRow(held.id);
      expect(row).toContain('data-waiting="rate-limit"');
      expect(row).toContain(
        'title="waits: kind &quot;digest.mail&quot; started 1 of 1 jobs allowed per 1h"',
      );
      // A job that is not due yet waits for its time, not for a limit.
      const later = await jobs.enqueue('digest.mail', {}, { delay: 3_600_000 });
      expect(await listRow(later.id)).not.toContain('data-waiting');

      const kinds = (await client.get('/jobs/kinds')).text;
      expect(kinds).toContain('<th>Limits</th>');
      expect(kinds).not.toContain('<i>"s');
      const limitsOf = (name: string) => {
        const row = new RegExp(`<tr data-kind="${name}">[\\s\\S]*?</tr>`).exec(kinds)![0];
        return /<td data-limits>\s*([\s\S]*?)\s*<\/td>/.exec(row)![1];
      };
      expect(limitsOf('account.sync&lt;/td&gt;&lt;i&gt;&quot;s&#39;')).toBe(
        '2 at once; per group: 1 at once',
      );
      expect(limitsOf('digest.mail')).toBe('1 per 1h');
      expect(limitsOf('digest.build')).toBe('<span class="muted">–</span>');
      const api = JSON.parse((await client.get('/jobs/api/kinds')).text) as Array<{
        name: string;
        limits: unknown;
      }>;
      expect(Object.fromEntries(api.map((kind) => [kind.name, kind.limits]))).toEqual({
        [SYNC]: { concurrency: 2, rateLimit: null, group: { concurrency: 1, rateLimit: null } },
        'digest.mail': { concurrency: null, rateLimit: { limit: 1, per: 3_600_000 }, group: null },
        'digest.build': null,
      });
    });
  },
);

describe('JobsDashboardModule.forRootAsync behind a global prefix [sqlite]', () => {
  it('takes its options from a factory and links, posts and scopes cookies under the prefix', async () => {
    const dashboard = await startDashboardApp({
      database: await freshDatabase(backends[0]),
      providers: [ReportHandler],
      globalPrefix: 'admin',
      dashboardModule: JobsDashboardModule.forRootAsync({
        path: 'queue/',
        guard: BasicAuthGuard,
        useFactory: async () => ({ title: 'Ops <jobs>', pageSize: 2, csrfSecret: 'x'.repeat(32) }),
      }),
    });
    try {
      await dashboard.jobs.enqueueMany(
        [1, 2, 3].map((n) => ({
          kind: 'email.send',
          data: { to: `p${n}@example.com`, subject: 's' },
          delay: 60_000,
        })),
      );
      const client = new DashboardClient(dashboard.origin);
      const page = await client.get('/admin/queue');
      expect(page.status).toBe(200);
      expect(page.text).toContain('<title>Jobs · Ops &lt;jobs&gt;</title>');
      expect(page.text).toContain('action="/admin/queue/actions"');
      expect(page.text).toContain('href="/admin/queue/kinds"');
      expect(page.text.match(/<tr data-job=/g)).toHaveLength(2);
      expect(page.text).toMatch(/rel="next" href="\/admin\/queue\?after=\d+"/);
      expect(page.headers.getSetCookie().join('\n')).toContain('Path=/admin/queue');
      expect((await client.get('/queue')).status).toBe(404);
    } finally {
      await dashboard.close();
    }
  });
});

describe('JobsDashboardModule options', () => {
  it('says so when the app has no JobsModule', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [JobsDashboardModule.forRoot({ path: '/jobs', guard: BasicAuthGuard })],
    })
      .setLogger(quietLogger)
      .compile();
    await expect(moduleRef.init()).rejects.toThrow(/JobsDashboardModule needs JobsModule/);
  });

  it('needs a guard class and a plain path', () => {
    expect(() => JobsDashboardModule.forRoot({ path: '/jobs', guard: undefined as never })).toThrow(
      /guard/,
    );
    expect(() => JobsDashboardModule.forRoot({ path: '/', guard: BasicAuthGuard })).toThrow(/path/);
    expect(() => JobsDashboardModule.forRoot({ path: '/jobs?x', guard: BasicAuthGuard })).toThrow(
      /path/,
    );
    expect(() =>
      JobsDashboardModule.forRoot({ path: '/jobs', guard: BasicAuthGuard, pageSize: 0 }),
    ).toThrow(/pageSize/);
    expect(() =>
      JobsDashboardModule.forRoot({ path: 'admin//jobs/', guard: BasicAuthGuard }),
    ).not.toThrow();
  });
});
