import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { JobEntity, JobKind, JobsService } from 'nestjs-typeorm-jobs';
import { JobStore } from '../lib/storage/job.store.js';
import { finishShapeOf, type JobUpdate } from '../lib/storage/job-rows.js';
import { backends, describeBackends, type Backend } from './support/backends.js';
import { closeCleaners, freshDatabase, startApp, withApp } from './support/fixtures.js';

@Injectable()
class Work {
  @JobKind('ok')
  ok() {
    return undefined;
  }
}

afterAll(closeCleaners);

/** Text that a hand-built array or VALUES list would get wrong. */
const AWKWARD = ` it's "quoted", {braced}, back\\slash, NULL, ünïcode ✓\nnew line`;

/** An app that only enqueues: its service, its store and the jobs table's repository. */
async function producerOf(backend: Backend) {
  const database = await freshDatabase(backend);
  const app = await startApp({ database, providers: [Work], jobs: { runner: false } });
  return {
    jobs: app.get(JobsService),
    store: app.get(JobStore),
    rows: app.get<DataSource>(getDataSourceToken()).getRepository(JobEntity),
  };
}

/** Claims up to 10 due `ok` jobs for the owner 'me', leased for a minute from `now`. */
function claimAll(store: JobStore, now: number) {
  const request = { owner: 'me', limit: 10, now, leaseUntil: now + 60_000 };
  return store.claim({ ...request, kinds: ['ok'], queues: null });
}

describeBackends('batched storage writes', (backend) => {
  it('writes a batch of outcomes in one go, each only where the lease is still ours', async () => {
    const { jobs, store, rows } = await producerOf(backend);
    const made = await jobs.enqueueMany(
      [0, 1, 2, 3].map((n) => ({ kind: 'ok', data: { n, text: AWKWARD } })),
    );
    const keyed = await jobs.enqueue('ok', { n: 4 }, { unique: true });
    const now = Date.now();
    const claimed = await claimAll(store, now);
    expect(claimed.map((job) => job.id).sort((a, b) => a - b)).toEqual(
      [...made, keyed].map((job) => job.id),
    );
    expect(claimed.map((job) => JSON.parse(job.data).text)).toEqual([
      AWKWARD,
      AWKWARD,
      AWKWARD,
      AWKWARD,
      undefined,
    ]);

    // Another instance took job 1 after our lease ran out; job 2 was cancelled meanwhile.
    await rows.update(made[1].id, { lockedBy: 'other' });
    await jobs.cancel(made[2].id);
    const update = (id: number, status: JobUpdate['status'], n: number): JobUpdate => ({
      id,
      owner: 'me',
      heldAttempt: 1,
      keyed: false,
      status,
      failed: status !== 'succeeded',
      runAt: now + (status === 'pending' ? 60_000 : 0),
      attempts: 1,
      finishedAt: status === 'pending' ? null : now + n,
      lastError: status === 'succeeded' ? null : AWKWARD,
      appendLogs: `[${n}] ${AWKWARD}\n`,
      result: status === 'succeeded' ? JSON.stringify({ n, text: AWKWARD }) : null,
    });
    const held = await store.finish([
      update(made[0].id, 'succeeded', 0),
      update(made[1].id, 'succeeded', 1),
      update(made[2].id, 'succeeded', 2),
      update(made[3].id, 'failed', 3),
      update(keyed.id, 'pending', 4),
    ]);
    expect(held).toEqual([true, false, false, true, true]);

    const [done, taken, cancelled, failed, retrying] = await Promise.all(
      [...made, keyed].map((job) => rows.findOneByOrFail({ id: job.id })),
    );
    expect(done).toMatchObject({
      status: 'succeeded',
      active: false,
      failed: false,
      lockedBy: null,
      activeKey: null,
    });
    expect(done.result).toEqual({ n: 0, text: AWKWARD });
    expect(done.logs).toBe(`[0] ${AWKWARD}\n`);
    expect(done.finishedAt?.getTime()).toBe(now);
    expect(taken).toMatchObject({ status: 'running', lockedBy: 'other', logs: null });
    expect(cancelled).toMatchObject({ status: 'cancelled', logs: null });
    expect(failed).toMatchObject({
      status: 'failed',
      active: false,
      failed: true,
      lastError: AWKWARD,
      result: null,
    });
    expect(retrying).toMatchObject({
      status: 'pending',
      active: true,
      failed: true,
      lockedBy: null,
      lockedUntil: null,
    });
    expect(retrying.activeKey).not.toBeNull();
    expect(retrying.runAt.getTime()).toBe(now + 60_000);
    expect(retrying.finishedAt).toBeNull();
  });

  it('writes plain successes in a statement of their own, to the same rows as every other end', async () => {
    const { jobs, store, rows } = await producerOf(backend);
    const made = await jobs.enqueueMany([0, 1, 2, 3].map((n) => ({ kind: 'ok', data: { n } })));
    const keyed = await jobs.enqueue('ok', { n: 4 }, { unique: true });
    const retried = await jobs.enqueue('ok', { n: 5 });
    const now = Date.now();
    const claimed = await claimAll(store, now);
    expect(claimed).toHaveLength(6);
    const runAt = new Map(claimed.map((job) => [job.id, job.runAt]));
    await rows.update(made[2].id, { lockedBy: 'other' });
    const end = (id: number, n: number, change: Partial<JobUpdate> = {}): JobUpdate => ({
      id,
      owner: 'me',
      heldAttempt: 1,
      keyed: false,
      status: 'succeeded',
      failed: false,
      runAt: runAt.get(id)!,
      attempts: 1,
      finishedAt: now + n,
      lastError: null,
      appendLogs: '',
      result: null,
      ...change,
    });
    const updates = [
      end(made[0].id, 0, { result: JSON.stringify({ text: AWKWARD }) }),
      end(made[1].id, 1, { appendLogs: `[1] ${AWKWARD}\n` }),
      end(made[2].id, 2),
      end(made[3].id, 3, {
        status: 'failed',
        failed: true,
        lastError: AWKWARD,
        finishedAt: now + 3,
      }),
      end(keyed.id, 4, { keyed: true }),
      // A retry: nulls among the numbers and texts of the row source.
      end(retried.id, 5, {
        status: 'pending',
        failed: true,
        runAt: now + 60_000,
        finishedAt: null,
        lastError: AWKWARD,
      }),
    ];
    // A keyed job's success releases its key: the statement of every other end writes it.
    expect(updates.map(finishShapeOf)).toEqual(['success', 'any', 'success', 'any', 'any', 'any']);
    // Held per update in the order given, though the two shapes go in separate statements.
    expect(await store.finish(updates)).toEqual([true, true, false, true, true, true]);

    const [plain, logged, taken, failed, unique, retry] = await Promise.all(
      [...made, keyed, retried].map((job) => rows.findOneByOrFail({ id: job.id })),
    );
    const succeeded = {
      status: 'succeeded',
      active: false,
      failed: false,
      attempts: 1,
      lockedBy: null,
      lockedUntil: null,
      lastError: null,
      activeKey: null,
    };
    expect(plain).toMatchObject({ ...succeeded, logs: null });
    expect(plain.result).toEqual({ text: AWKWARD });
    expect(plain.finishedAt?.getTime()).toBe(now);
    expect(plain.runAt.getTime()).toBe(runAt.get(plain.id));
    expect(logged).toMatchObject({ ...succeeded, result: null, logs: `[1] ${AWKWARD}\n` });
    expect(logged.finishedAt?.getTime()).toBe(now + 1);
    expect(taken).toMatchObject({ status: 'running', lockedBy: 'other', finishedAt: null });
    expect(failed).toMatchObject({
      status: 'failed',
      active: false,
      failed: true,
      lastError: AWKWARD,
    });
    expect(unique).toMatchObject({ ...succeeded, result: null, logs: null });
    expect(unique.finishedAt?.getTime()).toBe(now + 4);
    expect(retry).toMatchObject({
      status: 'pending',
      active: true,
      failed: true,
      finishedAt: null,
      lastError: AWKWARD,
      result: null,
      lockedBy: null,
    });
    expect(retry.runAt.getTime()).toBe(now + 60_000);
    // The unique key is free again: a new job may take it.
    expect((await jobs.enqueue('ok', { n: 4 }, { unique: true })).id).not.toBe(keyed.id);
  });

  it('with deleteSucceeded, deletes the successes still ours and writes the rest', async () => {
    const { jobs, store, rows } = await producerOf(backend);
    const made = await jobs.enqueueMany([0, 1, 2, 3].map((n) => ({ kind: 'ok', data: { n } })));
    const now = Date.now();
    await store.claim({
      owner: 'me',
      limit: 10,
      now,
      leaseUntil: now + 60_000,
      kinds: ['ok'],
      queues: null,
    });
    await rows.update(made[1].id, { lockedBy: 'other' });
    const outcome = (id: number, status: JobUpdate['status']): JobUpdate => ({
      id,
      owner: 'me',
      heldAttempt: 1,
      keyed: false,
      status,
      failed: status === 'failed',
      runAt: now,
      attempts: 1,
      finishedAt: now,
      lastError: status === 'failed' ? 'no' : null,
      appendLogs: '',
      result: null,
    });
    const held = await store.finish(
      [
        outcome(made[0].id, 'succeeded'),
        outcome(made[1].id, 'succeeded'),
        outcome(made[2].id, 'failed'),
        outcome(made[3].id, 'succeeded'),
      ],
      true,
    );
    expect(held).toEqual([true, false, true, true]);
    expect(await rows.findOneBy({ id: made[0].id })).toBeNull();
    expect(await rows.findOneBy({ id: made[3].id })).toBeNull();
    expect(await rows.findOneBy({ id: made[1].id })).toMatchObject({
      status: 'running',
      lockedBy: 'other',
    });
    expect(await rows.findOneBy({ id: made[2].id })).toMatchObject({
      status: 'failed',
      lastError: 'no',
    });
  });

  it('writes a batch of large outcomes in statements small enough for every server (MariaDB: 16 MiB a packet)', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Work], jobs: { runner: false } }, async (app) => {
      const store = app.get(JobStore);
      const made = await app
        .get(JobsService)
        .enqueueMany(Array.from({ length: 40 }, (_, n) => ({ kind: 'ok', data: { n } })));
      const now = Date.now();
      const claimed = await store.claim({
        owner: 'me',
        limit: 40,
        now,
        leaseUntil: now + 60_000,
        kinds: ['ok'],
        queues: null,
      });
      expect(claimed).toHaveLength(40);
      // 40 results of 600,000 characters: 24 MB in one statement, over MariaDB's default packet.
      const big = 'x'.repeat(600_000);
      const held = await store.finish(
        claimed.map((job) => ({
          id: job.id,
          owner: 'me',
          heldAttempt: 1,
          keyed: false,
          status: 'succeeded',
          failed: false,
          runAt: now,
          attempts: 1,
          finishedAt: now,
          lastError: null,
          appendLogs: '',
          result: JSON.stringify({ id: job.id, big }),
        })),
      );
      expect(held).toEqual(claimed.map(() => true));
      const jobs = app.get(JobsService);
      for (const job of [made[0], made[39]]) {
        expect(await jobs.get(job.id)).toMatchObject({
          status: 'succeeded',
          result: { id: job.id, big },
        });
      }
    });
  });

  it('hands a claimed batch over in claim order: priority, then due time, then id', async () => {
    const database = await freshDatabase(backend);
    const app = await startApp({ database, providers: [Work], jobs: { runner: false } });
    const store = app.get(JobStore);
    const past = Date.now() - 60_000;
    const made = await app.get(JobsService).enqueueMany([
      { kind: 'ok', data: { n: 0 }, priority: 5 },
      { kind: 'ok', data: { n: 1 }, priority: 1, runAt: new Date(past + 2) },
      { kind: 'ok', data: { n: 2 }, priority: 1, runAt: new Date(past + 1) },
      { kind: 'ok', data: { n: 3 }, priority: 0 },
      { kind: 'ok', data: { n: 4 }, priority: 1, runAt: new Date(past + 1) },
    ]);
    const now = Date.now();
    const claimed = await claimAll(store, now);
    expect(claimed.map((job) => made.findIndex((m) => m.id === job.id))).toEqual([3, 2, 4, 1, 0]);
  });

  it('writes one outcome alone, and refuses it once the lease is gone', async () => {
    const database = await freshDatabase(backend);
    const app = await startApp({ database, providers: [Work], jobs: { runner: false } });
    const store = app.get(JobStore);
    const job = await app.get(JobsService).enqueue('ok', {});
    const now = Date.now();
    await store.claim({
      owner: 'me',
      limit: 1,
      now,
      leaseUntil: now + 60_000,
      kinds: ['ok'],
      queues: null,
    });
    const outcome: JobUpdate = {
      id: job.id,
      owner: 'someone else',
      heldAttempt: 1,
      keyed: false,
      status: 'succeeded',
      failed: false,
      runAt: now,
      attempts: 1,
      finishedAt: now,
      lastError: null,
      appendLogs: '',
      result: null,
    };
    expect(await store.finish([outcome])).toEqual([false]);
    expect(await store.finish([{ ...outcome, owner: 'me' }])).toEqual([true]);
    expect((await app.get(JobsService).get(job.id))?.status).toBe('succeeded');
  });
});

describeBackends('a job is held by its claim, not only by the instance', (backend) => {
  it("refuses an older run's outcome, deletion, progress and release once this instance claimed the job again", async () => {
    const database = await freshDatabase(backend);
    const app = await startApp({ database, providers: [Work], jobs: { runner: false } });
    const store = app.get(JobStore);
    const made = await app
      .get(JobsService)
      .enqueueMany([0, 1, 2].map((n) => ({ kind: 'ok', data: { n } })));
    const claim = async (now: number) => {
      const claimed = await store.claim({
        owner: 'me',
        limit: 10,
        now,
        leaseUntil: now + 1_000,
        kinds: ['ok'],
        queues: null,
      });
      return claimed.sort((a, b) => a.id - b.id);
    };
    const start = Date.now();
    const first = await claim(start);
    expect(first.map((job) => job.attempts)).toEqual([1, 1, 1]);
    // The leases run out (the instance stalled), a reaper makes the jobs due, and the same
    // instance claims them again: attempt 2 is ours, attempt 1 is not, whatever it still does.
    expect(await store.reapExpired(start + 2_000, 'lease ran out\n')).toBe(3);
    const second = await claim(start + 2_000);
    expect(second.map((job) => [job.id, job.attempts])).toEqual(made.map((job) => [job.id, 2]));

    const holders = await store.holders(made.map((job) => job.id));
    expect([...holders.values()]).toEqual(
      made.map(() => ({ status: 'running', lockedBy: 'me', attempts: 2 })),
    );
    expect(await store.setProgress('me', first[0], '{"p":1}')).toBe(false);
    expect(await store.setProgress('me', second[0], '{"p":2}')).toBe(true);

    const outcome = (job: { id: number; attempts: number }): JobUpdate => ({
      id: job.id,
      owner: 'me',
      heldAttempt: job.attempts,
      keyed: false,
      status: 'succeeded',
      failed: false,
      runAt: start,
      attempts: job.attempts,
      finishedAt: start,
      lastError: null,
      appendLogs: `[attempt ${job.attempts}]\n`,
      result: JSON.stringify({ attempt: job.attempts }),
    });
    // Alone (one statement on MariaDB), in a batch (its locked read), and deleted in place.
    expect(await store.finish([outcome(first[0])])).toEqual([false]);
    expect(await store.finish([outcome(first[1]), outcome(first[2])])).toEqual([false, false]);
    expect(await store.finish([outcome(first[1])], true)).toEqual([false]);
    expect(await store.finish([outcome(first[1]), outcome(first[2])], true)).toEqual([
      false,
      false,
    ]);
    expect(await store.release('me', [first[2]], start + 2_000, 'released\n')).toBe(0);
    expect((await store.holders([first[2].id])).get(first[2].id)).toMatchObject({
      status: 'running',
    });

    expect(await store.finish([outcome(second[0])])).toEqual([true]);
    expect(await store.finish([outcome(second[1])], true)).toEqual([true]);
    expect(await store.release('me', [second[2]], start + 2_000, 'released\n')).toBe(1);
    const jobs = app.get(JobsService);
    expect(await jobs.get(made[0].id)).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      result: { attempt: 2 },
      progress: { p: 2 },
    });
    expect(await jobs.get(made[1].id)).toBeNull();
    expect(await jobs.get(made[2].id)).toMatchObject({ status: 'pending', attempts: 1 });
  });
});

describeBackends(
  "MySQL statements and TypeORM's logger",
  (backend) => {
    /** A TypeORM logger that keeps the statements it is shown. */
    function keeping(statements: string[]) {
      return {
        logQuery: (query: string) => void statements.push(query),
        logQueryError: () => undefined,
        logQuerySlow: () => undefined,
        logSchemaBuild: () => undefined,
        logMigration: () => undefined,
        log: () => undefined,
      };
    }

    it("sends the module's statements outside transactions to the driver's pool, past TypeORM's logger, unless the app asked TypeORM to log", async () => {
      const database = await freshDatabase(backend);
      for (const logging of [false, true]) {
        const statements: string[] = [];
        await withApp(
          {
            database: { ...database, logging, logger: keeping(statements) },
            providers: [Work],
            jobs: { runner: false },
          },
          async (app) => {
            const job = await app.get(JobsService).enqueue('ok', { logging });
            // Stored either way: the same row, read back through TypeORM.
            const row = await app
              .get<DataSource>(getDataSourceToken())
              .getRepository(JobEntity)
              .findOneByOrFail({ id: job.id });
            expect(row.data).toEqual({ logging });
          },
        );
        const inserts = statements.filter((text) => /INSERT INTO nest_jobs/i.test(text));
        expect(inserts).toHaveLength(logging ? 1 : 0);
      }
    });
  },
  backends.filter((backend) => backend.name === 'mysql'),
);
