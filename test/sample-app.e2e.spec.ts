import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { JobsService, type JobEntity, type JobSchedule } from 'nestjs-typeorm-jobs';
import { AppModule } from '../sample-app/src/app.module.js';
import type { SampleAppOptions } from '../sample-app/src/app.options.js';
import { runDueJobs } from '../sample-app/src/run-jobs.command.js';
import { describeBackends, type Backend } from './support/backends.js';
import { closeCleaners, freshDatabase, quietLogger, waitFor } from './support/fixtures.js';

/** The sample app as its users run it: over HTTP, and through the cron script's logic. */
describeBackends('sample app', (backend) => {
  const savedEnv = { ...process.env };
  let started: INestApplicationContext[] = [];

  beforeEach(() => pointSampleAt(backend));

  afterEach(async () => {
    for (const app of started.reverse()) await app.close();
    started = [];
    process.env = { ...savedEnv };
  });

  afterAll(closeCleaners);

  it('answers a webmention with 202 and verifies it in a job', async () => {
    const http = await startHttp();

    const accepted = await http.post('/webmention', {
      source: 'https://a.example/post',
      target: 'https://b.example/',
    });

    expect(accepted.status).toBe(202);
    expect(accepted.headers.get('location')).toBe(`/api/jobs/${accepted.body.id}`);
    const job = await http.waitForJob(accepted.body.id, 'succeeded');
    expect(job.attempts).toBe(1);
    expect(job.logs).toContain('checking https://a.example/post -> https://b.example/');
    expect(job.logs).toContain('verified');
  });

  it('retries an invalid webmention, then leaves it failed', async () => {
    const http = await startHttp();

    const accepted = await http.post('/webmention', {
      source: 'ftp://a.example/post',
      target: 'https://b.example/',
    });

    expect(accepted.status).toBe(202);
    const job = await http.waitForJob(accepted.body.id, 'failed');
    expect(job.attempts).toBe(3);
    expect(job.lastError).toContain('source is not an http(s) URL');
    expect(job.logs).toMatch(/attempt 3 of 3 \(started [^)]+\) failed/);
    expect(job.logs).not.toContain('verified');
  });

  it('runs a flaky job again after it fails until it succeeds', async () => {
    const http = await startHttp();

    const accepted = await http.post('/flaky', { failures: 1 });

    expect(accepted.status).toBe(202);
    const job = await http.waitForJob(accepted.body.id, 'succeeded');
    expect(job.attempts).toBe(2);
    expect(job.logs).toMatch(/attempt 1 of 3 \(started [^)]+\) failed/);
    expect(job.logs).toContain('fetched on attempt 2');
    // The controller's own limits, stored with the job in place of the kind's.
    expect(job.timeout).toBe(5_000);
    expect(JSON.parse(job.backoff!)).toEqual({ type: 'fixed', delay: 250 });
  });

  it('queues a webmention sent again while it waits only once', async () => {
    // Without a runner the first job is certainly still waiting when the second request comes.
    const http = await startHttp({ runner: false });
    const mention = { source: 'https://a.example/post', target: 'https://b.example/' };

    const first = await http.post('/webmention', mention);
    const second = await http.post('/webmention', mention);
    const other = await http.post('/webmention', { ...mention, source: 'https://a.example/other' });

    expect(second.body.id).toBe(first.body.id);
    expect(other.body.id).not.toBe(first.body.id);
  });

  it('refuses requests it cannot queue, and says when a job does not exist', async () => {
    const http = await startHttp({ runner: false });

    expect((await http.post('/webmention', { source: 'https://a.example/' })).status).toBe(400);
    expect((await http.post('/flaky', { failures: -1 })).status).toBe(400);
    expect((await http.get('/api/jobs/999999')).status).toBe(404);
    expect((await http.get('/api/jobs/abc')).status).toBe(400);
    expect((await http.post('/reports/2026-13', {})).status).toBe(400);
    expect((await http.post('/reports/2026-11?partMs=soon', {})).status).toBe(400);
    // The wait's timeout is checked before the job is added.
    expect((await http.post('/reports/2026-11/wait?timeout=soon', {})).status).toBe(400);
    expect((await http.post('/reports/jobs/999999/cancel', {})).status).toBe(404);
    expect((await http.post('/invoices', { customer: '', amountCents: 100 })).status).toBe(400);
    expect((await http.post('/invoices', { customer: 'ACME', amountCents: 0.5 })).status).toBe(400);
    expect((await http.get('/invoices/999999')).status).toBe(404);
    expect((await http.post('/newsletters', { subject: 'News', recipients: [] })).status).toBe(400);
    expect((await http.post('/newsletters', { subject: 'News', recipients: ['x'] })).status).toBe(
      400,
    );
    expect((await http.post('/accounts/abc/sync', {})).status).toBe(400);
    expect((await http.post('/accounts/1/sync?ms=soon', {})).status).toBe(400);
    expect(((await http.get('/api/jobs?kind=report.build')).body as JobEntity[]).length).toBe(0);
  });

  it('serves the jobs dashboard at /jobs behind its basic-auth guard', async () => {
    const http = await startHttp({ runner: false });
    const anonymous = await fetch(`${http.url}/jobs`);
    expect(anonymous.status).toBe(401);
    const signedIn = await fetch(`${http.url}/jobs`, {
      headers: { authorization: `Basic ${Buffer.from('admin:jobs').toString('base64')}` },
    });
    expect(signedIn.status).toBe(200);
    expect(await signedIn.text()).toContain('stats.log');
    await http.close();
  });

  it('keeps one periodic stats job however many times the app starts', async () => {
    const first = await startHttp({ runner: false });
    const [stats] = (await first.get('/api/jobs?kind=stats.log')).body as JobEntity[];
    await first.close();

    const again = await startHttp({ runner: false });
    const jobs = (await again.get('/api/jobs?kind=stats.log')).body as JobEntity[];

    expect(stats).toMatchObject({ periodic: true, interval: 60_000, status: 'pending' });
    expect(jobs.map((job) => job.id)).toEqual([stats.id]);
  });

  describe('per-user digests (runtime schedules)', () => {
    it("lists a user's new digest schedule and runs it", async () => {
      const http = await startHttp();

      const created = await http.post('/digests/alice?every=300', {});

      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        key: 'digest:user:alice',
        declared: false,
        kind: 'digest.send',
        every: 300,
        data: { user: 'alice' },
        paused: false,
      });
      const listed = (await http.get('/digests')).body as JobSchedule[];
      expect(listed.map((schedule) => schedule.key)).toEqual(['digest:user:alice']);
      const ran = await waitFor(async () => {
        const [schedule] = (await http.get('/digests')).body as JobSchedule[];
        // Back to pending: the run's outcome is stored (during a run, status is 'running').
        return schedule.status === 'pending' && schedule.lastOutcome === 'succeeded'
          ? schedule
          : null;
      }, "alice's digest to run");
      const row = (await http.get(`/api/jobs/${ran.id}`)).body as JobEntity;
      expect(row.result).toMatchObject({ user: 'alice' });
    });

    it('keeps one schedule per user when subscribed again, and refuses a bad interval', async () => {
      const http = await startHttp({ runner: false });

      await http.post('/digests/alice', {});
      const again = await http.post('/digests/alice?every=2h', {});
      await http.post('/digests/bob', {});

      expect(again.body.every).toBe(7_200_000);
      const listed = (await http.get('/digests')).body as JobSchedule[];
      expect(listed.map(({ key, every }) => [key, every])).toEqual([
        ['digest:user:alice', 7_200_000],
        ['digest:user:bob', 60_000],
      ]);
      expect((await http.post('/digests/carol?every=soon', {})).status).toBe(400);
      expect(((await http.get('/digests')).body as JobSchedule[]).length).toBe(2);
    });

    it("removes a user's schedule on unsubscribe, and says when there is none", async () => {
      const http = await startHttp({ runner: false });
      await http.post('/digests/alice', {});
      await http.post('/digests/bob', {});

      const removed = await http.delete('/digests/alice');

      expect(removed.status).toBe(204);
      const listed = (await http.get('/digests')).body as JobSchedule[];
      expect(listed.map((schedule) => schedule.key)).toEqual(['digest:user:bob']);
      expect((await http.delete('/digests/alice')).status).toBe(404);
    });

    it("pauses and resumes a user's schedule", async () => {
      const http = await startHttp({ runner: false });
      await http.post('/digests/alice', {});
      const digestOf = async () => ((await http.get('/digests')).body as JobSchedule[])[0];

      const paused = await http.post('/digests/alice/pause', {});

      expect(paused.body).toEqual({ key: 'digest:user:alice', paused: true, changed: true });
      expect(await digestOf()).toMatchObject({ paused: true, status: 'paused', nextRunAt: null });
      expect((await http.post('/digests/alice/pause', {})).body.changed).toBe(false);

      const resumed = await http.post('/digests/alice/resume', {});

      expect(resumed.body).toEqual({ key: 'digest:user:alice', paused: false, changed: true });
      const digest = await digestOf();
      expect(digest).toMatchObject({ paused: false, status: 'pending' });
      expect(digest.nextRunAt).not.toBeNull();
      expect((await http.post('/digests/bob/pause', {})).status).toBe(404);
    });
  });

  describe('monthly reports (progress, waiting, cancel)', () => {
    it('builds a report in parts: its progress reaches 100 and its result names the file', async () => {
      const http = await startHttp();

      const accepted = await http.post('/reports/2026-11?partMs=20', {});

      expect(accepted.status).toBe(202);
      expect(accepted.headers.get('location')).toBe(`/api/jobs/${accepted.body.id}`);
      const job = await http.waitForJob(accepted.body.id, 'succeeded');
      expect(job.progress).toBe(100);
      expect(job.result).toEqual({
        month: '2026-11',
        parts: 5,
        url: 'https://files.example/reports/2026-11.pdf',
      });
      expect(job.logs).toContain('rendered orders');
      expect(job.logs).toContain('rendered summary');
    });

    it('answers with the built report when the caller waits, and with 202 past the timeout', async () => {
      const http = await startHttp();

      const built = await http.post('/reports/2026-10/wait?partMs=10&timeout=20s', {});

      expect(built.status).toBe(200);
      expect(built.body).toMatchObject({
        status: 'succeeded',
        result: { month: '2026-10', parts: 5 },
      });
      expect((await http.get(`/api/jobs/${built.body.id}`)).body.progress).toBe(100);

      // Five parts of a minute each cannot be built in 100 ms: the answer says where to look later.
      const slow = await http.post('/reports/2026-12/wait?partMs=60000&timeout=100', {});

      expect(slow.status).toBe(202);
      expect(slow.headers.get('location')).toBe(`/api/jobs/${slow.body.id}`);
      expect(['pending', 'running']).toContain(slow.body.status);
      expect((await http.post(`/reports/jobs/${slow.body.id}/cancel`, {})).status).toBe(200);
    });

    it("stops a cancelled report's handler; the job ends cancelled, not retried", async () => {
      const lines: string[] = [];
      const http = await startHttp(undefined, (line) => lines.push(line));
      const accepted = await http.post('/reports/2026-11?partMs=60000', {});
      const id = accepted.body.id as number;
      await http.waitForJob(id, 'running');

      const cancelled = await http.post(`/reports/jobs/${id}/cancel`, {});

      expect(cancelled.status).toBe(200);
      expect(cancelled.body).toEqual({ id, status: 'cancelled' });
      // Its parts take five minutes: the handler's line comes only because job.signal aborted it.
      const stopped = await waitFor(
        () => lines.find((line) => line.startsWith(`job #${id}: report for 2026-11 stopped`)),
        'the report handler to stop',
      );
      expect(stopped).toMatch(/stopped after 0 of 5 parts \(.*cancelled.*\)/);
      const job = await http.waitForJob(id, 'cancelled');
      expect(job).toMatchObject({ attempts: 1, active: false });
      expect((await http.post(`/reports/jobs/${id}/cancel`, {})).status).toBe(409);
    });

    it('cancels only reports', async () => {
      const http = await startHttp({ runner: false });
      const other = await http.post('/flaky', { failures: 0 });

      expect((await http.post(`/reports/jobs/${other.body.id}/cancel`, {})).status).toBe(404);
      expect((await http.get(`/api/jobs/${other.body.id}`)).body.status).toBe('pending');
    });
  });

  describe('invoices (job.transaction)', () => {
    it("pays an invoice exactly once, in the transaction that stores its job's success", async () => {
      const http = await startHttp();

      const created = await http.post('/invoices', { customer: 'ACME', amountCents: 12_500 });

      expect(created.status).toBe(202);
      const { invoice, job: queued } = created.body;
      expect(created.headers.get('location')).toBe(`/invoices/${invoice.id}`);
      expect(invoice).toMatchObject({ customer: 'ACME', amountCents: 12_500, paidAt: null });
      expect(invoice.jobId).toBe(queued.id);
      const job = await http.waitForJob(queued.id, 'succeeded');
      expect(job.attempts).toBe(1);
      const paid = (await http.get(`/invoices/${invoice.id}`)).body;
      expect(paid.paidAt).not.toBeNull();
      expect(paid.payments).toEqual([
        { id: expect.any(Number), invoiceId: invoice.id, amountCents: 12_500, jobId: job.id },
      ]);
      // The job's result is what the transaction's callback returned.
      expect(job.result).toEqual({
        invoiceId: invoice.id,
        paymentId: paid.payments[0].id,
        amountCents: 12_500,
      });
    });
  });

  describe('flows and batches', () => {
    it('publishes a video after its renditions and thumbnail, reading what they returned', async () => {
      const http = await startHttp();

      const accepted = await http.post('/videos/intro/publish', {});

      expect(accepted.status).toBe(202);
      expect(accepted.body.waitsOn).toHaveLength(3);
      const published = await http.waitForJob(accepted.body.publish, 'succeeded');
      const parts = await Promise.all(
        (accepted.body.waitsOn as number[]).map((id) => http.waitForJob(id, 'succeeded')),
      );
      for (const part of parts) {
        expect(new Date(part.finishedAt!).getTime()).toBeLessThanOrEqual(
          new Date(published.lastRun!).getTime(),
        );
      }
      expect(published.result).toEqual({
        published: 'intro',
        parts: [
          { url: '/videos/intro/1080p.mp4' },
          { url: '/videos/intro/720p.mp4' },
          { url: '/videos/intro/thumb.jpg' },
        ],
      });
    });

    it('imports rows as a batch and reports once with the counts', async () => {
      const http = await startHttp();

      const accepted = await http.post('/imports?rows=20', {});

      expect(accepted.status).toBe(202);
      const batch = await waitFor(async () => {
        const read = await http.get(`/imports/${accepted.body.batch}`);
        return read.body.finishedAt ? read.body : null;
      }, 'the import to finish');
      expect(batch).toMatchObject({ total: 20, succeeded: 18, failed: 2, cancelled: 0 });
      const report = await http.waitForJob(batch.callbackJobId, 'succeeded');
      expect(report.result).toEqual({
        id: accepted.body.batch,
        total: 20,
        succeeded: 18,
        failed: 2,
        cancelled: 0,
      });
      expect((await http.get('/imports/999999')).status).toBe(404);
    });
  });

  describe('flow control (kind and group limits)', () => {
    it('sends a newsletter through the rate-limited mail kind: every mail once, none held back counted as an attempt', async () => {
      const http = await startHttp();
      const recipients = Array.from({ length: 8 }, (_, i) => `reader${i}@example.com`);

      const accepted = await http.post('/newsletters', { subject: 'November news', recipients });

      expect(accepted.status).toBe(202);
      expect(accepted.body.ids).toHaveLength(8);
      const sent = await Promise.all(
        (accepted.body.ids as number[]).map((id) => http.waitForJob(id, 'succeeded')),
      );
      expect(sent.map((job) => (job.result as { to: string }).to)).toEqual(recipients);
      expect(sent.every((job) => job.attempts === 1)).toBe(true);
      // The dashboard's kinds page shows the limits the code declares.
      const kinds = await fetch(`${http.url}/jobs/kinds`, {
        headers: { authorization: `Basic ${Buffer.from('admin:jobs').toString('base64')}` },
      });
      const page = await kinds.text();
      const limitsOf = (kind: string) =>
        new RegExp(`<tr data-kind="${kind}">[\\s\\S]*?<td data-limits>\\s*([^<]*?)\\s*</td>`).exec(
          page,
        )?.[1];
      expect(limitsOf('mail.send')).toBe('2 at once, 5 per 1s');
      expect(limitsOf('account.sync')).toBe('per group: 1 at once');
    });

    it('syncs one account at a time (its second sync says why it waits), other accounts meanwhile', async () => {
      const http = await startHttp();
      const long = await http.post('/accounts/1/sync?ms=60000', {});
      expect(long.status).toBe(202);
      expect(long.body.group).toBe('account:1');
      await http.waitForJob(long.body.id, 'running');

      const queued = await Promise.all([
        http.post('/accounts/1/sync?ms=50', {}),
        http.post('/accounts/1/sync?ms=50', {}),
      ]);
      const waiting = (await http.get(`/api/jobs/${queued[0].body.id}`)).body;
      expect(waiting).toMatchObject({
        status: 'pending',
        group: 'account:1',
        waiting: {
          reason: 'group-concurrency',
          message: '1 of 1 jobs of group "account:1" allowed at once are running',
        },
      });
      // Another account is not held up by account 1's backlog.
      const other = await http.post('/accounts/2/sync?ms=0', {});
      await http.waitForJob(other.body.id, 'succeeded');
      expect((await http.get(`/api/jobs/${long.body.id}`)).body.status).toBe('running');

      // The long sync ends (cancelled here): account 1's next syncs run, one after the other.
      expect(await http.jobs.cancel(long.body.id)).toBe(true);
      const runs = await Promise.all(
        queued.map((reply) => http.waitForJob(reply.body.id, 'succeeded')),
      );
      const [first, second] = runs
        .map((job) => job.result as { startedAt: number; endedAt: number })
        .sort((a, b) => a.startedAt - b.startedAt);
      expect(second.startedAt).toBeGreaterThanOrEqual(first.endedAt);
      expect(runs.every((job) => job.attempts === 1 && job.waiting === null)).toBe(true);
    });
  });

  it('names on GET /status the kinds with pending jobs that no running instance handles', async () => {
    const web = await startHttp({ runner: false });

    // A fresh database where no instance with a runner has started: the stats schedule waits.
    const before = (await web.get('/status')).body;
    expect(before.unhandledKinds).toEqual([{ kind: 'stats.log', pending: 1, handledAt: null }]);
    expect(before.counts).toContainEqual({ kind: 'stats.log', status: 'pending', count: 1 });

    await startHttp();

    expect((await web.get('/status')).body.unhandledKinds).toEqual([]);
  });

  describe('the cron script (run-jobs)', () => {
    it('runs the due jobs once and exits 1 when a run failed', async () => {
      const app = await startContext();
      const jobs = app.get(JobsService);
      const valid = await jobs.enqueue('webmention.receive', {
        source: 'https://a.example/',
        target: 'https://b.example/',
      });
      const invalid = await jobs.enqueue('webmention.receive', {
        source: 'not a url',
        target: 'https://b.example/',
      });
      const flaky = await jobs.enqueue('flaky.fetch', { failures: 1 });

      const { summary, exitCode } = await runDueJobs(app);

      // The stats schedule's first occurrence is a minute away; the retries are not due yet.
      expect(summary).toEqual({ ran: 3, succeeded: 1, failed: 2, snoozed: 0, unfinished: 0 });
      expect(exitCode).toBe(1);
      expect(await jobs.get(valid.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
      expect(await jobs.get(invalid.id)).toMatchObject({
        status: 'pending',
        failed: true,
        attempts: 1,
      });
      expect(await jobs.get(flaky.id)).toMatchObject({
        status: 'pending',
        failed: true,
        attempts: 1,
      });
    });

    it('finishes retries over later runs, as cron would call it', async () => {
      const app = await startContext();
      const jobs = app.get(JobsService);
      const invalid = await jobs.enqueue('webmention.receive', {
        source: 'not a url',
        target: 'https://b.example/',
      });
      const flaky = await jobs.enqueue('flaky.fetch', { failures: 1 });

      await waitFor(async () => {
        await runDueJobs(app);
        const [a, b] = await Promise.all([jobs.get(invalid.id), jobs.get(flaky.id)]);
        return !a?.active && !b?.active;
      }, 'the retries to end');

      expect(await jobs.get(invalid.id)).toMatchObject({ status: 'failed', attempts: 3 });
      expect(await jobs.get(flaky.id)).toMatchObject({ status: 'succeeded', attempts: 2 });
    });

    it('exits 0 when every run succeeded, and runs nothing when nothing is due', async () => {
      const app = await startContext();
      await app.get(JobsService).enqueue('webmention.receive', {
        source: 'https://a.example/',
        target: 'https://b.example/',
      });

      expect(await runDueJobs(app)).toEqual({
        summary: { ran: 1, succeeded: 1, failed: 0, snoozed: 0, unfinished: 0 },
        exitCode: 0,
      });
      expect(await runDueJobs(app)).toEqual({
        summary: { ran: 0, succeeded: 0, failed: 0, snoozed: 0, unfinished: 0 },
        exitCode: 0,
      });
    });
  });

  /** Points the sample at an empty database through its environment variables, as a user would. */
  async function pointSampleAt(target: Backend): Promise<void> {
    const options = (await freshDatabase(target)) as { database?: string; url?: string };
    delete process.env.JOBS_SAMPLE_DB;
    delete process.env.JOBS_SAMPLE_DATABASE_URL;
    delete process.env.WEBMENTION_TARGET_HOSTS;
    if (target.name === 'sqlite') process.env.JOBS_SAMPLE_DB = options.database;
    else process.env.JOBS_SAMPLE_DATABASE_URL = options.url;
  }

  /** The cron script's context: the app without HTTP and without its background runner. */
  async function startContext(): Promise<INestApplicationContext> {
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot({ runner: false })],
    })
      .setLogger(quietLogger)
      .compile();
    started.push(moduleRef);
    return moduleRef.init();
  }

  /**
   * The sample's AppModule as an HTTP server on a free port, with a small client for it; `onLog`
   * hears the app's log lines (what an operator reads).
   */
  async function startHttp(options?: SampleAppOptions, onLog?: (line: string) => void) {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(options)] })
      .setLogger(
        onLog ? { ...quietLogger, log: (line: unknown) => onLog(String(line)) } : quietLogger,
      )
      .compile();
    const app: INestApplication = moduleRef.createNestApplication();
    started.push(app);
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    return new SampleClient(
      `http://127.0.0.1:${port}`,
      async () => {
        started = started.filter((other) => other !== app);
        await app.close();
      },
      app.get(JobsService),
    );
  }
});

interface Reply {
  status: number;
  headers: Headers;
  /** JSON of several shapes; the assertions say which. */
  body: any;
}

class SampleClient {
  constructor(
    private readonly base: string,
    readonly close: () => Promise<void>,
    /** The app's JobsService, for what the sample has no endpoint for. */
    readonly jobs: JobsService,
  ) {}

  get url(): string {
    return this.base;
  }

  post(path: string, body: unknown): Promise<Reply> {
    return this.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  get(path: string): Promise<Reply> {
    return this.request(path, { method: 'GET' });
  }

  delete(path: string): Promise<Reply> {
    return this.request(path, { method: 'DELETE' });
  }

  /** Polls GET /api/jobs/:id, as a curl user would, until the job reaches `status`. */
  waitForJob(id: number, status: string): Promise<JobEntity> {
    return waitFor(async () => {
      const reply = await this.get(`/api/jobs/${id}`);
      return reply.status === 200 && reply.body.status === status
        ? (reply.body as JobEntity)
        : null;
    }, `job ${id} to be ${status}`);
  }

  private async request(path: string, init: RequestInit): Promise<Reply> {
    const response = await fetch(`${this.base}${path}`, init);
    // A 204 has no body.
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text === '' ? null : JSON.parse(text),
    };
  }
}
