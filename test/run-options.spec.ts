import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { InvalidJobsOptionError, JobEntity, JobKind, JobsService } from 'nestjs-typeorm-jobs';
import { JobStore } from '../lib/storage/job.store.js';
import { describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase, startApp } from './support/fixtures.js';

/**
 * `timeout` and `backoff` given at enqueue are stored with the job (columns timeout_ms and backoff)
 * and reach the runner with the claimed job, on every path an enqueue takes: one job, a batch (one
 * JSON document on PostgreSQL), a unique job.
 */

@Injectable()
class Work {
  @JobKind('per-job', { timeout: 5_000, backoff: 100 })
  run() {
    return undefined;
  }
}

afterAll(closeCleaners);

describeBackends('per-job timeout and backoff', (backend) => {
  async function producer() {
    const database = await freshDatabase(backend);
    const app = await startApp({ database, providers: [Work], jobs: { runner: false } });
    const rows = app.get<DataSource>(getDataSourceToken()).getRepository(JobEntity);
    return { app, jobs: app.get(JobsService), store: app.get(JobStore), rows };
  }

  it('stores them with the job and hands them to the runner with the claimed job', async () => {
    const { app, jobs, store, rows } = await producer();
    try {
      const single = await jobs.enqueue('per-job', { n: 1 }, { timeout: 250, backoff: 2_000 });
      const [fixed, plain] = await jobs.enqueueMany([
        { kind: 'per-job', data: { n: 2 }, timeout: 0, backoff: { type: 'fixed', delay: 700 } },
        { kind: 'per-job', data: { n: 3 } },
      ]);
      const unique = await jobs.enqueue(
        'per-job',
        { n: 4 },
        { unique: 'four', backoff: { type: 'exponential', delay: 50 } },
      );
      expect(
        [single, fixed, plain, unique].map(({ timeout, backoff }) => ({ timeout, backoff })),
      ).toEqual([
        { timeout: 250, backoff: '2000' },
        { timeout: 0, backoff: '{"type":"fixed","delay":700}' },
        { timeout: null, backoff: null },
        { timeout: null, backoff: '{"type":"exponential","delay":50}' },
      ]);

      const stored = await rows.find({ order: { id: 'ASC' } });
      expect(stored.map(({ timeout, backoff }) => ({ timeout, backoff }))).toEqual([
        { timeout: 250, backoff: '2000' },
        { timeout: 0, backoff: '{"type":"fixed","delay":700}' },
        { timeout: null, backoff: null },
        { timeout: null, backoff: '{"type":"exponential","delay":50}' },
      ]);

      const now = Date.now();
      const claimed = await store.claim({
        owner: 'me',
        limit: 10,
        now,
        leaseUntil: now + 60_000,
        kinds: ['per-job'],
        queues: null,
      });
      expect(claimed.map(({ id, timeout, backoff }) => ({ id, timeout, backoff }))).toEqual([
        { id: single.id, timeout: 250, backoff: '2000' },
        { id: fixed.id, timeout: 0, backoff: '{"type":"fixed","delay":700}' },
        { id: plain.id, timeout: null, backoff: null },
        { id: unique.id, timeout: null, backoff: '{"type":"exponential","delay":50}' },
      ]);
    } finally {
      await app.close();
    }
  });

  it.each([
    ['a negative timeout', { timeout: -1 }, 'timeout'],
    ['a timeout no Node timer can wait', { timeout: 2 ** 31 }, 'timeout'],
    ['a fractional timeout', { timeout: 1.5 }, 'timeout'],
    ['a timeout as text', { timeout: '5s' }, 'timeout'],
    ['a negative backoff', { backoff: -5 }, 'backoff'],
    ['a backoff function (it cannot be stored)', { backoff: () => 10 }, 'backoff'],
    ['an unknown backoff type', { backoff: { type: 'linear', delay: 10 } }, 'backoff.type'],
    ['a backoff without delay', { backoff: { type: 'fixed' } }, 'backoff.delay'],
    ['a backoff delay as text', { backoff: { type: 'fixed', delay: '1s' } }, 'backoff.delay'],
    ['an unknown backoff key', { backoff: { type: 'fixed', delay: 1, jitter: true } }, 'jitter'],
  ])('refuses %s with InvalidJobsOptionError, writing nothing', async (_, options, option) => {
    const { app, jobs, rows } = await producer();
    try {
      const attempt = jobs.enqueue('per-job', {}, options as never);
      await expect(attempt).rejects.toBeInstanceOf(InvalidJobsOptionError);
      await expect(attempt).rejects.toMatchObject({ option });
      await expect(
        jobs.enqueueMany([{ kind: 'per-job' }, { kind: 'per-job', ...(options as object) }]),
      ).rejects.toBeInstanceOf(InvalidJobsOptionError);
      expect(await rows.count()).toBe(0);
    } finally {
      await app.close();
    }
  });
});
