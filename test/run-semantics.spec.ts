import { Injectable } from '@nestjs/common';
import { JobKind, JobsService, type JobContext } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import {
  closeCleaners,
  freshDatabase,
  startApp,
  waitFor,
  waitForStatus,
  withApp,
} from './support/fixtures.js';

/** Handlers whose behaviour each test steers through the job's data. */
@Injectable()
class Behaviours {
  readonly runs = new Map<number, number>();
  readonly seen: Array<{ id: number; attempt: number; at: number }> = [];

  private count(job: JobContext) {
    this.runs.set(job.id, (this.runs.get(job.id) ?? 0) + 1);
    this.seen.push({ id: job.id, attempt: job.attempt, at: Date.now() });
  }

  @JobKind('returns.string')
  returnsString(job: JobContext<{ text: string }>) {
    this.count(job);
    job.log('first line');
    job.log('second line');
    return job.data.text;
  }

  @JobKind('returns.object')
  returnsObject(job: JobContext<{ n: number }>) {
    this.count(job);
    return { doubled: job.data.n * 2, list: [1, 2] };
  }

  @JobKind('returns.unserialisable')
  returnsUnserialisable(job: JobContext) {
    this.count(job);
    return { big: 1n };
  }

  @JobKind('fails.until', { maxAttempts: 4, backoff: 20 })
  failsUntil(job: JobContext<{ succeedOn: number }>) {
    this.count(job);
    if (job.attempt < job.data.succeedOn) throw new Error(`boom on attempt ${job.attempt}`);
    return 'made it';
  }

  @JobKind('always.fails', { maxAttempts: 3, backoff: 20 })
  alwaysFails(job: JobContext) {
    this.count(job);
    throw new TypeError(`always (${job.attempt})`);
  }

  @JobKind('snoozes')
  snoozes(job: JobContext<{ times: number }>) {
    this.count(job);
    return (this.runs.get(job.id) ?? 0) <= job.data.times ? job.snooze(10, 'not ready') : 'ready';
  }

  @JobKind('periodic.tick')
  tick(job: JobContext) {
    this.count(job);
    return `tick ${this.runs.get(job.id)}`;
  }
}

afterAll(closeCleaners);

describeBackends('run semantics', (backend) => {
  const start = async () =>
    startApp({ database: await freshDatabase(backend), providers: [Behaviours] });

  it('appends job.log() lines and a returned string to the logs with timestamps, and ends a one-off job', async () => {
    const app = await start();
    try {
      const job = await app.get(JobsService).enqueue('returns.string', { text: 'all done' });
      const done = await waitForStatus(app, job.id, 'succeeded');
      const lines = done.logs!.trim().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] first line$/);
      expect(lines[1]).toMatch(/\] second line$/);
      expect(lines[2]).toMatch(/\] all done$/);
      expect(done).toMatchObject({
        active: false,
        failed: false,
        attempts: 1,
        result: 'all done',
        lockedBy: null,
      });
      expect(done.finishedAt).toBeInstanceOf(Date);
      expect(done.lastRun).toBeInstanceOf(Date);
    } finally {
      await app.close();
    }
  });

  it('keeps a returned JSON value as the result, and logs (not stores) one that is not JSON', async () => {
    const app = await start();
    try {
      const jobs = app.get(JobsService);
      const object = await jobs.enqueue('returns.object', { n: 21 });
      const bad = await jobs.enqueue('returns.unserialisable');
      expect((await waitForStatus(app, object.id, 'succeeded')).result).toEqual({
        doubled: 42,
        list: [1, 2],
      });
      const badDone = await waitForStatus(app, bad.id, 'succeeded');
      expect(badDone.result).toBeNull();
      expect(badDone.logs).toContain('not JSON and was not kept');
    } finally {
      await app.close();
    }
  });

  it('retries a thrown error with exponential backoff, logging each error, until it succeeds', async () => {
    const app = await start();
    try {
      const job = await app.get(JobsService).enqueue('fails.until', { succeedOn: 3 });
      const done = await waitForStatus(app, job.id, 'succeeded');
      expect(done.attempts).toBe(3);
      expect(done.failed).toBe(false);
      expect(done.logs).toMatch(
        /attempt 1 of 4 \(started [^)]+ on [^)]+\) failed: Error: boom on attempt 1; retry in 20 ms/,
      );
      expect(done.logs).toMatch(
        /attempt 2 of 4 \(started [^)]+ on [^)]+\) failed: Error: boom on attempt 2; retry in 40 ms/,
      );
      const runs = app.get(Behaviours).seen.filter((run) => run.id === job.id);
      expect(runs.map((run) => run.attempt)).toEqual([1, 2, 3]);
      expect(runs[1].at - runs[0].at).toBeGreaterThanOrEqual(20);
      expect(runs[2].at - runs[1].at).toBeGreaterThanOrEqual(40);
    } finally {
      await app.close();
    }
  });

  it('leaves a job failed and inactive after its last attempt, until retried by hand', async () => {
    const app = await start();
    try {
      const jobs = app.get(JobsService);
      const job = await jobs.enqueue('always.fails', { x: 1 });
      const failed = await waitForStatus(app, job.id, 'failed');
      expect(failed).toMatchObject({ active: false, failed: true, attempts: 3 });
      expect(failed.lastError).toContain('TypeError: always (3)');
      expect(failed.logs).toMatch(
        /attempt 3 of 3 \(started [^)]+ on [^)]+\) failed: TypeError: always \(3\); no attempts left/,
      );
      expect(app.get(Behaviours).runs.get(job.id)).toBe(3);

      const retried = await jobs.retry(job.id);
      // retry() wakes the runner at once, so the job may already be running again.
      expect(retried.active).toBe(true);
      expect(['pending', 'running']).toContain(retried.status);
      await waitFor(() => app.get(Behaviours).runs.get(job.id) === 6, 'three more runs');
      expect((await waitForStatus(app, job.id, 'failed')).attempts).toBe(3);
    } finally {
      await app.close();
    }
  });

  it('runs a snoozed job again later without counting the run as an attempt or a failure', async () => {
    const app = await start();
    try {
      const job = await app.get(JobsService).enqueue('snoozes', { times: 2 }, { maxAttempts: 1 });
      const done = await waitForStatus(app, job.id, 'succeeded');
      expect(app.get(Behaviours).runs.get(job.id)).toBe(3);
      expect(done.attempts).toBe(1);
      expect(done.failed).toBe(false);
      expect(done.logs?.match(/snoozed for 10 ms: not ready/g)).toHaveLength(2);
    } finally {
      await app.close();
    }
  });

  it('keeps a periodic job active and runs it again after its interval', async () => {
    const app = await start();
    try {
      const jobs = app.get(JobsService);
      const job = await jobs.enqueue('periodic.tick', {}, { periodic: true, interval: 100 });
      await waitFor(() => (app.get(Behaviours).runs.get(job.id) ?? 0) >= 3, 'three ticks');
      const row = (await jobs.get(job.id))!;
      expect(row).toMatchObject({ periodic: true, active: true, interval: 100 });
      expect(['pending', 'running']).toContain(row.status);
      expect(row.finishedAt).toBeNull();
      const ticks = app.get(Behaviours).seen.filter((run) => run.id === job.id);
      expect(ticks[1].at - ticks[0].at).toBeGreaterThanOrEqual(100);
    } finally {
      await app.close();
    }
  });

  it('runs only kinds registered in this process: a row naming another kind is never run here', async () => {
    const database = await freshDatabase(backend);
    const other = await startApp({ database, providers: [Behaviours], jobs: { runner: false } });
    const app = await startApp({ database });
    try {
      const job = await app.get(JobsService).enqueue('returns.string', { text: 'x' });
      // The runner of `app` polls every 50 ms; give it many polls, then check nothing claimed the job.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect((await app.get(JobsService).get(job.id))!.status).toBe('pending');
      expect((await app.get(JobsService).get(job.id))!.attempts).toBe(0);
    } finally {
      await app.close();
      await other.close();
    }
  });

  it('runNow() makes a delayed job due at once, keeping its attempts', async () => {
    const app = await start();
    try {
      const jobs = app.get(JobsService);
      const job = await jobs.enqueue('returns.string', { text: 'early' }, { delay: 3_600_000 });
      expect(await jobs.runNow([job.id, 999_999])).toBe(1);
      expect((await waitForStatus(app, job.id, 'succeeded')).attempts).toBe(1);
      expect(await jobs.runNow([job.id])).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('runPending() runs every due job once, now, and reports what happened', async () => {
    await withApp(
      {
        database: await freshDatabase(backend),
        providers: [Behaviours],
        jobs: { runner: false },
      },
      async (app) => {
        const jobs = app.get(JobsService);
        const ok = await jobs.enqueue('returns.string', { text: 'a' });
        // Its retry is a minute away, so the second runPending finds nothing due however slow the machine.
        const bad = await jobs.enqueue('always.fails', undefined, { backoff: 60_000 });
        const later = await jobs.enqueue('returns.string', { text: 'later' }, { delay: 60_000 });
        const summary = await jobs.runPending();
        expect(summary).toEqual({ ran: 2, succeeded: 1, failed: 1, snoozed: 0, unfinished: 0 });
        expect((await jobs.get(ok.id))!.status).toBe('succeeded');
        expect((await jobs.get(bad.id))!).toMatchObject({
          status: 'pending',
          failed: true,
          attempts: 1,
        });
        expect((await jobs.get(later.id))!.status).toBe('pending');
        expect(await jobs.runPending()).toEqual({
          ran: 0,
          succeeded: 0,
          failed: 0,
          snoozed: 0,
          unfinished: 0,
        });
      },
    );
  });
});
