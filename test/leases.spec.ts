import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import {
  JobEntity,
  JobKind,
  JobLeaseLostError,
  JobsService,
  type JobContext,
} from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import {
  closeCleaners,
  freshDatabase,
  startApp,
  waitFor,
  waitForStatus,
  withApp,
} from './support/fixtures.js';

/** Handlers that block until a test lets them go, and record how they were stopped. */
@Injectable()
class Slow {
  readonly started = new Set<number>();
  readonly aborted = new Map<number, unknown>();
  readonly finished = new Set<number>();
  private releases = new Map<number, () => void>();

  release(id: number) {
    this.releases.get(id)?.();
  }

  private block(job: JobContext, ignoreSignal = false): Promise<string> {
    this.started.add(job.id);
    return new Promise<string>((resolve) => {
      this.releases.set(job.id, () => {
        this.finished.add(job.id);
        resolve('released');
      });
      if (!ignoreSignal) {
        job.signal.addEventListener('abort', () => {
          this.aborted.set(job.id, job.signal.reason);
          resolve('aborted');
        });
      }
    });
  }

  @JobKind('slow')
  slow(job: JobContext) {
    return this.block(job);
  }

  @JobKind('slow.timeout', { timeout: 200, maxAttempts: 1 })
  slowWithTimeout(job: JobContext) {
    return this.block(job, true);
  }

  @JobKind('quick')
  quick(job: JobContext) {
    this.started.add(job.id);
    return 'quick';
  }
}

afterAll(closeCleaners);

describeBackends('leases, shutdown and timeouts', (backend) => {
  it('claims again, after its lease expires, a job whose worker died', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Slow], jobs: { lease: 1_000 } }, async (app) => {
      const jobs = app.get(JobsService);
      const job = await jobs.enqueue('quick', {});
      await waitForStatus(app, job.id, 'succeeded');
      // Make a job look claimed by an instance that died a while ago.
      const orphan = await jobs.enqueue('quick', {}, { delay: 60_000 });
      const source = app.get<DataSource>(getDataSourceToken());
      await source.getRepository(JobEntity).update(orphan.id, {
        status: 'running',
        lockedBy: 'dead-host:1:x',
        lockedUntil: new Date(Date.now() - 1),
        runAt: new Date(),
        attempts: 1,
      });
      const done = await waitForStatus(app, orphan.id, 'succeeded');
      expect(done.attempts).toBe(2);
      expect(done.logs).toContain('lease expired');
      expect(done.lockedBy).toBeNull();
    });
  });

  it('fails for good a job whose lease expired on its last attempt', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Slow], jobs: { lease: 1_000 } }, async (app) => {
      const jobs = app.get(JobsService);
      const orphan = await jobs.enqueue(
        'quick',
        {},
        { delay: 60_000, maxAttempts: 2, unique: true },
      );
      await app
        .get<DataSource>(getDataSourceToken())
        .getRepository(JobEntity)
        .update(orphan.id, {
          status: 'running',
          lockedBy: 'dead-host:1:x',
          lockedUntil: new Date(Date.now() - 1),
          attempts: 2,
        });
      const dead = await waitForStatus(app, orphan.id, 'failed');
      expect(dead).toMatchObject({
        active: false,
        failed: true,
        activeKey: null,
        lockedBy: null,
        attempts: 2,
      });
      expect(dead.finishedAt).toBeInstanceOf(Date);
      expect(dead.lastError).toContain('lease expired');
      expect(app.get(Slow).started.has(orphan.id)).toBe(false);
    });
  });

  it('renews the lease of a long job, so no other instance claims it meanwhile', async () => {
    const database = await freshDatabase(backend);
    const a = await startApp({ database, providers: [Slow], jobs: { lease: 1_000 } });
    const b = await startApp({ database, providers: [Slow], jobs: { lease: 1_000 } });
    try {
      const job = await a.get(JobsService).enqueue('slow', {});
      const holder = await waitFor(
        () => [a, b].find((app) => app.get(Slow).started.has(job.id)),
        'a claim',
      );
      const first = (await a.get(JobsService).get(job.id))!.lockedUntil!.getTime();
      // Three lease lengths later the same instance still holds it, with a renewed lease.
      await waitFor(
        async () => (await a.get(JobsService).get(job.id))!.lockedUntil!.getTime() > first + 2_000,
        'renewals',
        10_000,
      );
      const other = holder === a ? b : a;
      expect(other.get(Slow).started.has(job.id)).toBe(false);
      holder.get(Slow).release(job.id);
      expect((await waitForStatus(a, job.id, 'succeeded')).attempts).toBe(1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('stops its older run of a job it claims again after that run lost its lease; only the new claim ends the job', async () => {
    const database = await freshDatabase(backend);
    // No tick or renewal in the test's time (they would find the run lost by reading its row):
    // the claim alone must stop the older run.
    const options = { lease: 60_000, pollInterval: 30_000 };
    await withApp({ database, providers: [Slow], jobs: options }, async (app) => {
      const jobs = app.get(JobsService);
      const slow = app.get(Slow);
      const rows = app.get<DataSource>(getDataSourceToken()).getRepository(JobEntity);
      const job = await jobs.enqueue('slow', {});
      await waitFor(() => slow.started.has(job.id), 'the first run');
      // What a reaper does once the lease ran out (this instance stalled, or lost the database):
      // the job is due again while its run goes on here. An enqueue wakes the runner, which
      // claims both jobs: the first as attempt 2.
      await rows.update(job.id, { status: 'pending', lockedBy: null, lockedUntil: null });
      const other = await jobs.enqueue('quick', {});
      const reason = await waitFor(() => slow.aborted.get(job.id), 'the first run to stop');
      expect(reason).toBeInstanceOf(JobLeaseLostError);
      expect(String((reason as Error).message)).toContain('this instance claimed it again');
      await waitForStatus(app, other.id, 'succeeded');
      expect(await jobs.get(job.id)).toMatchObject({ status: 'running', attempts: 2 });
      slow.release(job.id);
      const done = await waitForStatus(app, job.id, 'succeeded');
      expect(done).toMatchObject({ attempts: 2, result: 'released' });
    });
  });

  it('lets running handlers finish on shutdown', async () => {
    const database = await freshDatabase(backend);
    const app = await startApp({ database, providers: [Slow], jobs: { shutdownTimeout: 10_000 } });
    const jobs = app.get(JobsService);
    const job = await jobs.enqueue('slow', {});
    const slow = app.get(Slow);
    await waitFor(() => slow.started.has(job.id), 'the handler to start');
    const closing = app.close();
    setTimeout(() => slow.release(job.id), 100);
    await closing;
    expect(slow.finished.has(job.id)).toBe(true);
    expect(slow.aborted.size).toBe(0);
    const checker = await startApp({ database, jobs: { runner: false } });
    try {
      expect((await checker.get(JobsService).get(job.id))!).toMatchObject({
        status: 'succeeded',
        lockedBy: null,
      });
    } finally {
      await checker.close();
    }
  });

  it('aborts handlers still running after the grace period and releases their jobs at once', async () => {
    const database = await freshDatabase(backend);
    const app = await startApp({
      database,
      providers: [Slow],
      jobs: { shutdownTimeout: 100, lease: 60_000 },
    });
    const job = await app.get(JobsService).enqueue('slow', {});
    const slow = app.get(Slow);
    await waitFor(() => slow.started.has(job.id), 'the handler to start');
    await app.close();
    expect(slow.aborted.has(job.id)).toBe(true);
    const checker = await startApp({ database, jobs: { runner: false } });
    try {
      const row = (await checker.get(JobsService).get(job.id))!;
      // Free for another worker now, not after the 60 s lease; the interrupted run does not count.
      expect(row).toMatchObject({
        status: 'pending',
        lockedBy: null,
        lockedUntil: null,
        attempts: 0,
      });
      expect(row.runAt.getTime()).toBeLessThanOrEqual(Date.now());
      expect(row.logs).toContain('released unfinished at shutdown');
    } finally {
      await checker.close();
    }
  });

  it('aborts the signal at the timeout, fails the run, and frees the slot even if the handler ignores it', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Slow], jobs: { concurrency: 1 } }, async (app) => {
      const jobs = app.get(JobsService);
      const stuck = await jobs.enqueue('slow.timeout', {});
      const next = await jobs.enqueue('quick', {});
      const failed = await waitForStatus(app, stuck.id, 'failed');
      expect(failed.lastError).toContain('JobTimeoutError: Timed out after 200 ms.');
      // concurrency 1: the next job ran although the stuck handler never returned.
      await waitForStatus(app, next.id, 'succeeded');
      expect(app.get(Slow).finished.has(stuck.id)).toBe(false);
    });
  });

  it('with runner: false, only enqueues: nothing is claimed', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Slow], jobs: { runner: false } }, async (app) => {
      const job = await app.get(JobsService).enqueue('quick', {});
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(app.get(Slow).started.size).toBe(0);
      expect((await app.get(JobsService).get(job.id))!.status).toBe('pending');
    });
  });

  it('runs at most `concurrency` jobs at once', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Slow], jobs: { concurrency: 3 } }, async (app) => {
      const jobs = app.get(JobsService);
      const ids = (
        await jobs.enqueueMany(Array.from({ length: 6 }, () => ({ kind: 'slow', data: {} })))
      ).map((job) => job.id);
      const slow = app.get(Slow);
      await waitFor(() => slow.started.size === 3, 'three to start');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(slow.started.size).toBe(3);
      for (const id of ids) slow.release(id);
      await waitFor(() => slow.started.size === 6, 'the other three to start');
      for (const id of ids) slow.release(id);
      for (const id of ids) await waitForStatus(app, id, 'succeeded');
    });
  });
});
