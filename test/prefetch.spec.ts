import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { JobEntity, JobKind, JobsService, type JobContext } from 'nestjs-typeorm-jobs';
import { JobsRunner } from '../lib/runner/jobs.runner.js';
import { describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase, startApp, waitFor, withApp } from './support/fixtures.js';

@Injectable()
class Work {
  readonly started = new Set<number>();
  quickDone = 0;

  @JobKind('quick')
  quick() {
    this.quickDone++;
  }

  /** Runs until aborted. */
  @JobKind('slow')
  slow(job: JobContext) {
    this.started.add(job.id);
    return new Promise((resolve) => job.signal.addEventListener('abort', resolve));
  }
}

afterAll(closeCleaners);

describeBackends('claiming ahead (prefetch)', (backend) => {
  it('claims ahead of its free slots once its jobs finish fast, keeps them leased, and gives back the unstarted ones at shutdown', async () => {
    const database = await freshDatabase(backend);
    const app = await startApp({
      database,
      providers: [Work],
      jobs: { concurrency: 2, batchSize: 50, prefetch: 10_000, lease: 1_000, shutdownTimeout: 0 },
    });
    const jobs = app.get(JobsService);
    const work = app.get(Work);
    const owner = app.get(JobsRunner).owner;
    const rows = app.get<DataSource>(getDataSourceToken()).getRepository(JobEntity);
    // Fast jobs first: the runner learns its finish rate.
    await jobs.enqueueMany(Array.from({ length: 300 }, () => ({ kind: 'quick', data: {} })));
    await waitFor(() => work.quickDone === 300, 'the quick jobs');

    const slow = await jobs.enqueueMany(
      Array.from({ length: 30 }, () => ({ kind: 'slow', data: {} })),
    );
    await waitFor(() => work.started.size === 2, 'two slow jobs to start');
    await waitFor(
      async () => (await rows.countBy({ kind: 'slow', lockedBy: owner })) === 30,
      'all 30 to be claimed',
    );
    expect(work.started.size).toBe(2);

    // Two lease lengths later, the 28 waiting in memory are still ours: their leases were renewed.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const held = await rows.findBy({ kind: 'slow' });
    expect(held.every((row) => row.status === 'running' && row.lockedBy === owner)).toBe(true);
    expect(held.every((row) => row.lockedUntil!.getTime() > Date.now())).toBe(true);
    expect(work.started.size).toBe(2);

    await app.close();
    const checker = await startApp({ database, jobs: { runner: false } });
    try {
      const after = await checker
        .get<DataSource>(getDataSourceToken())
        .getRepository(JobEntity)
        .findBy({ kind: 'slow' });
      expect(after).toHaveLength(30);
      expect(
        after.every(
          (row) => row.status === 'pending' && row.lockedBy === null && row.attempts === 0,
        ),
      ).toBe(true);
      const unstarted = after.filter((row) => !work.started.has(row.id));
      expect(unstarted).toHaveLength(28);
      expect(unstarted.every((row) => row.logs?.includes('released unstarted at shutdown'))).toBe(
        true,
      );
      expect(slow.map((job) => job.id).sort()).toEqual(after.map((row) => row.id).sort());
    } finally {
      await checker.close();
    }
  });

  it('claims only for its free slots while its jobs are slow, leaving the rest to other instances', async () => {
    const database = await freshDatabase(backend);
    await withApp(
      {
        database,
        providers: [Work],
        jobs: { concurrency: 2, shutdownTimeout: 0 },
      },
      async (app) => {
        const jobs = app.get(JobsService);
        const work = app.get(Work);
        const rows = app.get<DataSource>(getDataSourceToken()).getRepository(JobEntity);
        await jobs.enqueueMany(Array.from({ length: 10 }, () => ({ kind: 'slow', data: {} })));
        await waitFor(() => work.started.size === 2, 'two slow jobs to start');
        // A few polls later, still only the two it runs are taken.
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        expect(await rows.countBy({ kind: 'slow', status: 'running' })).toBe(2);
        expect(await rows.countBy({ kind: 'slow', status: 'pending' })).toBe(8);
      },
    );
  });
});
