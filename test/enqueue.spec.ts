import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import {
  InvalidJobPayloadError,
  InvalidJobsOptionError,
  JobEntity,
  JobKind,
  JobNotFoundError,
  JobNotRetryableError,
  JobsService,
  UnknownJobKindError,
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

@Injectable()
class Recorder {
  readonly order: string[] = [];

  @JobKind('record')
  record(job: JobContext<{ name: string }>) {
    this.order.push(job.data.name);
  }

  @JobKind('mail.send', { queue: 'mail', priority: 5, maxAttempts: 7 })
  mail() {
    return undefined;
  }
}

afterAll(closeCleaners);

describeBackends('enqueue and inspect', (backend) => {
  const idle = async () =>
    startApp({
      database: await freshDatabase(backend),
      providers: [Recorder],
      jobs: { runner: false },
    });

  const rowCount = (app: Awaited<ReturnType<typeof idle>>) =>
    app.get<DataSource>(getDataSourceToken()).getRepository(JobEntity).count();

  it('stores the job with its options and the kind defaults', async () => {
    const app = await idle();
    try {
      const jobs = app.get(JobsService);
      const before = Date.now();
      const plain = await jobs.enqueue('mail.send', { to: 'a@b.c' });
      const custom = await jobs.enqueue(
        'mail.send',
        { to: 'd@e.f' },
        { queue: 'urgent', priority: -1, maxAttempts: 2, delay: 5_000 },
      );
      const at = new Date(Date.now() + 3_600_000);
      const scheduled = await jobs.enqueue('record', { name: 'later' }, { runAt: at });
      const stored = (await jobs.get(plain.id))!;
      expect(stored).toMatchObject({
        kind: 'mail.send',
        queue: 'mail',
        priority: 5,
        maxAttempts: 7,
        status: 'pending',
        active: true,
        periodic: false,
        failed: false,
        attempts: 0,
        data: { to: 'a@b.c' },
      });
      expect(stored.runAt.getTime()).toBeGreaterThanOrEqual(before);
      expect(stored.runAt.getTime()).toBeLessThanOrEqual(Date.now());
      expect(plain).toMatchObject({
        id: stored.id,
        kind: stored.kind,
        queue: stored.queue,
        status: 'pending',
        data: stored.data,
      });
      expect((await jobs.get(custom.id))!).toMatchObject({
        queue: 'urgent',
        priority: -1,
        maxAttempts: 2,
      });
      expect((await jobs.get(custom.id))!.runAt.getTime()).toBeGreaterThanOrEqual(before + 5_000);
      expect((await jobs.get(scheduled.id))!.runAt.getTime()).toBe(at.getTime());
    } finally {
      await app.close();
    }
  });

  it('runs due jobs by priority (lower first), then by run-at, and waits for delayed ones', async () => {
    const database = await freshDatabase(backend);
    const producer = await startApp({ database, providers: [Recorder], jobs: { runner: false } });
    const jobs = producer.get(JobsService);
    await jobs.enqueue('record', { name: 'low' }, { priority: 10 });
    await jobs.enqueue('record', { name: 'first' }, { priority: -5 });
    await jobs.enqueue('record', { name: 'second' }, { priority: -5 });
    // Long enough to stay not due while the worker starts on a busy machine (300 ms was not).
    await jobs.enqueue('record', { name: 'delayed' }, { priority: -100, delay: 1_500 });
    await producer.close();
    const worker = await startApp({ database, providers: [Recorder], jobs: { concurrency: 1 } });
    try {
      const recorder = worker.get(Recorder);
      await waitFor(() => recorder.order.length === 4, 'all four jobs');
      expect(recorder.order).toEqual(['first', 'second', 'low', 'delayed']);
    } finally {
      await worker.close();
    }
  });

  it('makes exactly one row from 20 concurrent identical unique enqueues, and returns it to all', async () => {
    const database = await freshDatabase(backend);
    const apps = await Promise.all(
      [0, 1].map(() => startApp({ database, providers: [Recorder], jobs: { runner: false } })),
    );
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          apps[i % 2]
            .get(JobsService)
            .enqueue('record', { name: 'same', nested: { b: 1, a: 2 } }, { unique: true }),
        ),
      );
      expect(new Set(results.map((job) => job.id)).size).toBe(1);
      expect(await rowCount(apps[0])).toBe(1);
      // Key order does not make data different; different data does.
      const reordered = await apps[0]
        .get(JobsService)
        .enqueue('record', { nested: { a: 2, b: 1 }, name: 'same' }, { unique: true });
      expect(reordered.id).toBe(results[0].id);
      const other = await apps[0]
        .get(JobsService)
        .enqueue('record', { name: 'other' }, { unique: true });
      expect(other.id).not.toBe(results[0].id);
    } finally {
      await Promise.all(apps.map((app) => app.close()));
    }
  });

  it('dedupes only while the job is active: after it finishes, the same unique enqueue adds a new job', async () => {
    await withApp(
      { database: await freshDatabase(backend), providers: [Recorder] },
      async (app) => {
        const jobs = app.get(JobsService);
        const first = await jobs.enqueue('record', { name: 'again' }, { unique: 'nightly' });
        await waitForStatus(app, first.id, 'succeeded');
        const second = await jobs.enqueue(
          'record',
          { name: 'other data, same key' },
          { unique: 'nightly' },
        );
        expect(second.id).not.toBe(first.id);
        expect(second.uniqueKey).toBe(first.uniqueKey);
      },
    );
  });

  it('enqueueMany adds jobs in order, in batches, with unique ones deduped', async () => {
    const app = await idle();
    try {
      const jobs = app.get(JobsService);
      const specs = Array.from({ length: 2_500 }, (_, i) => ({
        kind: 'record',
        data: { name: `n${i}` },
      }));
      const added = await jobs.enqueueMany([
        ...specs,
        { kind: 'record', data: { name: 'u' }, unique: true },
        { kind: 'record', data: { name: 'u' }, unique: true },
      ]);
      expect(added).toHaveLength(2_502);
      expect(new Set(added.map((job) => job.id)).size).toBe(2_501);
      expect(added[2_500].id).toBe(added[2_501].id);
      expect(await rowCount(app)).toBe(2_501);
      for (const i of [0, 999, 1_000, 2_499]) {
        expect((await jobs.get(added[i].id))!.data).toEqual({ name: `n${i}` });
      }
    } finally {
      await app.close();
    }
  });

  it('lists with filters and keyset pagination', async () => {
    const app = await idle();
    try {
      const jobs = app.get(JobsService);
      const made: number[] = [];
      for (let i = 0; i < 7; i++) made.push((await jobs.enqueue('record', { name: `r${i}` })).id);
      const mail = await jobs.enqueue('mail.send', { to: 'x' });
      const periodic = await jobs.enqueue(
        'record',
        { name: 'p' },
        { periodic: true, interval: 60_000 },
      );
      await jobs.cancel(made[0]);

      expect((await jobs.list({ kind: 'mail.send' })).map((job) => job.id)).toEqual([mail.id]);
      expect((await jobs.list({ queue: 'mail' })).map((job) => job.id)).toEqual([mail.id]);
      expect((await jobs.list({ periodic: true })).map((job) => job.id)).toEqual([periodic.id]);
      expect((await jobs.list({ status: 'cancelled' })).map((job) => job.id)).toEqual([made[0]]);
      expect((await jobs.list({ status: ['pending', 'cancelled'], kind: 'record' })).length).toBe(
        8,
      );
      expect((await jobs.list({ active: false })).map((job) => job.id)).toEqual([made[0]]);

      const page1 = await jobs.list({ kind: 'record', limit: 3 });
      const page2 = await jobs.list({ kind: 'record', limit: 3, after: page1[2].id });
      expect(page1.map((job) => job.id)).toEqual([periodic.id, made[6], made[5]]);
      expect(page2.map((job) => job.id)).toEqual([made[4], made[3], made[2]]);
      const oldest = await jobs.list({ order: 'oldest', limit: 2 });
      expect(oldest.map((job) => job.id)).toEqual([made[0], made[1]]);
    } finally {
      await app.close();
    }
  });

  it('cancels pending jobs, refuses to retry what is not failed or cancelled, and says when a job does not exist', async () => {
    const app = await idle();
    try {
      const jobs = app.get(JobsService);
      const job = await jobs.enqueue('record', { name: 'c' }, { unique: true });
      expect(await jobs.cancel(job.id)).toBe(true);
      expect(await jobs.cancel(job.id)).toBe(false);
      expect((await jobs.get(job.id))!).toMatchObject({
        status: 'cancelled',
        active: false,
        activeKey: null,
      });
      // The key is free again once cancelled...
      const replacement = await jobs.enqueue('record', { name: 'c' }, { unique: true });
      expect(replacement.id).not.toBe(job.id);
      // ...so retrying the cancelled one brings it back without its key, not as a second holder.
      const retried = await jobs.retry(job.id);
      expect(retried).toMatchObject({ status: 'pending', activeKey: null });
      await expect(jobs.cancel(999_999)).rejects.toThrow(JobNotFoundError);
      await expect(jobs.retry(999_999)).rejects.toThrow(JobNotFoundError);
      await jobs.cancel(replacement.id);
      await jobs.retry(replacement.id);
      expect((await jobs.get(replacement.id))!.activeKey).toBe(replacement.uniqueKey);
      expect(await jobs.get(123_456)).toBeNull();
    } finally {
      await app.close();
    }
  });

  it('refuses to retry a job that succeeded', async () => {
    await withApp(
      { database: await freshDatabase(backend), providers: [Recorder] },
      async (app) => {
        const jobs = app.get(JobsService);
        const job = await jobs.enqueue('record', { name: 'ok' });
        await waitForStatus(app, job.id, 'succeeded');
        await expect(jobs.retry(job.id)).rejects.toThrow(JobNotRetryableError);
      },
    );
  });

  describe('bad input writes nothing', () => {
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    const cases: Array<[string, unknown, RegExp]> = [
      ['a BigInt', { n: 10n }, /\$\.n is a BigInt/],
      ['a cycle', cycle, /\$\.self refers back to itself/],
      ['a function', { f: () => 1 }, /\$\.f is a function/],
      ['a symbol', [Symbol('s')], /\$\[0\] is a symbol/],
      ['NaN', { n: Number.NaN }, /\$\.n is NaN/],
      ['a Map', { m: new Map([[1, 2]]) }, /\$\.m is a Map instance/],
      ['undefined in an array', [1, undefined], /\$\[1\] is undefined/],
    ];
    it.each(cases)('rejects a payload holding %s', async (_what, data, message) => {
      const app = await idle();
      try {
        const jobs = app.get(JobsService);
        await expect(jobs.enqueue('record', data)).rejects.toThrow(InvalidJobPayloadError);
        await expect(jobs.enqueue('record', data)).rejects.toThrow(message);
        await expect(
          jobs.enqueueMany([
            { kind: 'record', data: { ok: 1 } },
            { kind: 'record', data },
          ]),
        ).rejects.toThrow(InvalidJobPayloadError);
        expect(await rowCount(app)).toBe(0);
      } finally {
        await app.close();
      }
    });

    it('rejects an unknown kind with UnknownJobKindError', async () => {
      const app = await idle();
      try {
        await expect(app.get(JobsService).enqueue('no.such.kind', {})).rejects.toThrow(
          UnknownJobKindError,
        );
        await expect(app.get(JobsService).enqueue('no.such.kind', {})).rejects.toThrow(
          /Unknown job kind "no\.such\.kind"/,
        );
        expect(await rowCount(app)).toBe(0);
      } finally {
        await app.close();
      }
    });

    it('rejects bad enqueue options, naming the option', async () => {
      const app = await idle();
      try {
        const jobs = app.get(JobsService);
        await expect(jobs.enqueue('record', {}, { periodic: true })).rejects.toThrow(/"interval"/);
        await expect(jobs.enqueue('record', {}, { delay: -1 })).rejects.toThrow(
          InvalidJobsOptionError,
        );
        await expect(jobs.enqueue('record', {}, { runAt: new Date('nope') })).rejects.toThrow(
          /"runAt"/,
        );
        await expect(jobs.enqueue('record', {}, { priority: 1.5 })).rejects.toThrow(/"priority"/);
        await expect(jobs.enqueue('record', {}, { queue: '' })).rejects.toThrow(/"queue"/);
        await expect(jobs.enqueue('record', {}, { maxAttempts: 0 })).rejects.toThrow(
          /"maxAttempts"/,
        );
        expect(await rowCount(app)).toBe(0);
      } finally {
        await app.close();
      }
    });

    it('accepts Dates (as ISO strings) and drops undefined object fields, as JSON does', async () => {
      const app = await idle();
      try {
        const at = new Date('2026-01-02T03:04:05.000Z');
        const job = await app
          .get(JobsService)
          .enqueue('record', { at, missing: undefined, ok: true });
        expect((await app.get(JobsService).get(job.id))!.data).toEqual({
          at: '2026-01-02T03:04:05.000Z',
          ok: true,
        });
      } finally {
        await app.close();
      }
    });
  });
});
