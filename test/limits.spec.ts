/**
 * Flow control in one instance: what a limit holds back never stands in the way of what may run
 * (no head-of-line blocking, fair groups), a held-back job is neither an attempt nor a failure, and
 * a bad limit fails at startup. That the limits hold across processes is test/limits.processes.spec.ts.
 */
import { Injectable, type Type } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { TestingModule } from '@nestjs/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { IsNull, type DataSource } from 'typeorm';
import {
  JobEntity,
  JobKind,
  JobsService,
  type AnyEnqueueSpec,
  type JobContext,
  type JobKindOptions,
} from 'nestjs-typeorm-jobs';
import { backends, describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase, startApp, waitFor } from './support/fixtures.js';

/** One kind per group test: `ms` of data is how long a run takes. */
@Injectable()
class Accounts {
  /** Runs in the order they started. */
  readonly starts: Array<{ id: number; group: string | null }> = [];

  @JobKind('account.sync', { group: { concurrency: 1 } })
  async sync(job: JobContext<{ ms: number }>) {
    this.starts.push({ id: job.id, group: job.group });
    await sleep(job.data.ms, undefined, { signal: job.signal });
  }
}

/** Two kinds held back by their own limits, and one with none. */
@Injectable()
class Mixed {
  readonly slotStarts: number[] = [];
  readonly rateStarts: number[] = [];
  readonly freeGroups: Array<string | null> = [];

  /** Holds its one slot until shutdown aborts it. */
  @JobKind('limited.slots', { concurrency: 1 })
  slots(job: JobContext) {
    this.slotStarts.push(job.id);
    return new Promise((resolve) => job.signal.addEventListener('abort', resolve));
  }

  /** One start an hour: the first runs, the rest wait far longer than this test. */
  @JobKind('limited.rate', { rateLimit: { limit: 1, per: '1h' } })
  rate(job: JobContext) {
    this.rateStarts.push(job.id);
  }

  @JobKind('free')
  free(job: JobContext) {
    this.freeGroups.push(job.group);
  }
}

/** Enqueues in calls of 1,000, as a user would; returns the ids in order. */
async function enqueueAll(jobs: JobsService, specs: AnyEnqueueSpec[]): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < specs.length; i += 1_000) {
    ids.push(...(await jobs.enqueueMany(specs.slice(i, i + 1_000))).map((job) => job.id));
  }
  return ids;
}

function repeat<T>(count: number, make: (n: number) => T): T[] {
  return Array.from({ length: count }, (_, n) => make(n));
}

function rowsOf(app: TestingModule) {
  return app.get<DataSource>(getDataSourceToken()).getRepository(JobEntity);
}

afterAll(closeCleaners);

describeBackends('flow control in one instance', (backend) => {
  it('runs all 100 jobs of group B while 5,000 of group A, enqueued before them, wait their turn one at a time', async () => {
    const database = await freshDatabase(backend);
    const app = await startApp({ database, providers: [Accounts] });
    try {
      const jobs = app.get(JobsService);
      const rows = rowsOf(app);
      await enqueueAll(jobs, [
        ...repeat(5_000, () => ({ kind: 'account.sync', data: { ms: 200 }, group: 'A' })),
        ...repeat(100, () => ({ kind: 'account.sync', data: { ms: 0 }, group: 'B' })),
      ]);
      await waitFor(
        async () => (await rows.countBy({ group: 'B', status: 'succeeded' })) === 100,
        "group B's 100 jobs to succeed",
        40_000,
      );
      const pendingA = await rows.countBy({ group: 'A', status: 'pending' });
      const starts = app.get(Accounts).starts;
      // A ran meanwhile, one at a time, and still has nearly all of its backlog.
      expect(starts.some((start) => start.group === 'A')).toBe(true);
      expect(pendingA).toBeGreaterThan(4_900);
      expect(await rows.countBy({ group: 'A', status: 'running' })).toBeLessThanOrEqual(1);
      expect((await jobs.get(starts[0].id))!.group).toBe(starts[0].group);
      // get() and list() say why A's jobs wait (while one of A runs: between two runs, nothing holds
      // the next back).
      await waitFor(async () => {
        const [next] = await jobs.list({ kind: 'account.sync', status: 'pending', limit: 1 });
        const got = await jobs.get(next.id);
        return (
          next.group === 'A' &&
          next.waiting?.reason === 'group-concurrency' &&
          got!.waiting?.reason === 'group-concurrency'
        );
      }, "A's pending jobs to say they wait for their group's slot");
    } finally {
      await app.close();
    }
  });

  it('runs jobs enqueued without a group of a kind with group limits while one of its groups is at its limit', async () => {
    const database = await freshDatabase(backend);
    const app = await startApp({
      database,
      providers: [Accounts],
      jobs: { shutdownTimeout: 0 },
    });
    try {
      const jobs = app.get(JobsService);
      const rows = rowsOf(app);
      // Group A's first job runs until shutdown aborts it: A is at its limit all along.
      await enqueueAll(
        jobs,
        repeat(10, () => ({ kind: 'account.sync', data: { ms: 60_000 }, group: 'A' })),
      );
      const starts = app.get(Accounts).starts;
      await waitFor(() => starts.length === 1, "group A's first job to start");
      const ungrouped = await enqueueAll(
        jobs,
        repeat(20, () => ({ kind: 'account.sync', data: { ms: 0 } })),
      );
      await waitFor(
        async () => (await rows.countBy({ group: IsNull(), status: 'succeeded' })) === 20,
        'the 20 jobs without a group to succeed',
        10_000,
      );
      expect(starts.filter((start) => start.group === null).map((start) => start.id)).toEqual(
        expect.arrayContaining(ungrouped),
      );
      expect(await rows.countBy({ group: 'A', status: 'pending' })).toBe(9);
    } finally {
      await app.close();
    }
  });

  it('lets 100 groups of 100 jobs, enqueued one group after another, each start within the first 100 starts', async () => {
    // Claim order alone (oldest first) would run the first groups to their end before the later
    // ones start: with 10 slots and one job per group at a time, the first 100 starts would cover
    // some 10 groups. Fair claiming gives every group its turn.
    const database = await freshDatabase(backend);
    const app = await startApp({ database, providers: [Accounts], jobs: { concurrency: 10 } });
    try {
      const groups = repeat(100, (g) => `g${g}`);
      const jobs = app.get(JobsService);
      // Every group is there before the first claim (else the first groups would be the only ones).
      await jobs.pauseQueue('default');
      await enqueueAll(
        jobs,
        groups.flatMap((group) =>
          repeat(100, () => ({ kind: 'account.sync', data: { ms: 20 }, group })),
        ),
      );
      await jobs.resumeQueue('default');
      const starts = app.get(Accounts).starts;
      await waitFor(() => starts.length >= 100, 'the first 100 starts', 40_000);
      const firstRounds = new Set(starts.slice(0, 100).map((start) => start.group));
      process.stdout.write(
        `[limits figures] ${JSON.stringify({ backend: backend.name, groups: 100, distinctGroupsInFirst100Starts: firstRounds.size })}\n`,
      );
      expect(firstRounds.size).toBe(100);
    } finally {
      await app.close();
    }
  });

  it('runs other kinds past the backlogs of a kind at its concurrency and one at its rate limit; the held-back jobs stay pending, not attempted, not failed', async () => {
    const database = await freshDatabase(backend);
    const app = await startApp({ database, providers: [Mixed], jobs: { shutdownTimeout: 0 } });
    try {
      const jobs = app.get(JobsService);
      const rows = rowsOf(app);
      const mixed = app.get(Mixed);
      // Backlogs longer than what a claim looks at, ahead of the free ones in claim order.
      await enqueueAll(jobs, [
        ...repeat(1_000, () => ({ kind: 'limited.slots', data: {} })),
        ...repeat(1_000, () => ({ kind: 'limited.rate', data: {} })),
      ]);
      await waitFor(
        () => mixed.slotStarts.length > 0 && mixed.rateStarts.length > 0,
        'one job of each limited kind to start',
      );
      const free = await enqueueAll(
        jobs,
        repeat(50, () => ({ kind: 'free', data: {} })),
      );
      await waitFor(
        async () => (await rows.countBy({ kind: 'free', status: 'succeeded' })) === free.length,
        'the 50 free jobs to succeed',
      );
      expect(mixed.freeGroups).toEqual(free.map(() => null));
      expect((await jobs.get(free[0]))!.group).toBeNull();

      // Every claim that ran the free jobs held the backlogs back: one runs (or ran) of each.
      expect(mixed.slotStarts).toHaveLength(1);
      expect(mixed.rateStarts).toHaveLength(1);
      for (const [kind, ran, status] of [
        ['limited.slots', mixed.slotStarts[0], 'running'],
        ['limited.rate', mixed.rateStarts[0], 'succeeded'],
      ] as const) {
        const all = await rows.find({ where: { kind }, order: { id: 'ASC' } });
        const held = all.filter((row) => row.id !== ran);
        expect(all.find((row) => row.id === ran)).toMatchObject({ status, attempts: 1 });
        expect(held).toHaveLength(999);
        const states = new Set(
          held.map((row) =>
            JSON.stringify({
              status: row.status,
              attempts: row.attempts,
              failed: row.failed,
              lastError: row.lastError,
              lockedBy: row.lockedBy,
            }),
          ),
        );
        expect([...states].map((state) => JSON.parse(state))).toEqual([
          { status: 'pending', attempts: 0, failed: false, lastError: null, lockedBy: null },
        ]);
        // get() and list() say why they wait.
        const reason = kind === 'limited.slots' ? 'concurrency' : 'rate-limit';
        expect((await jobs.get(held[0].id))!.waiting?.reason).toBe(reason);
        const listed = await jobs.list({ kind, status: 'pending', limit: 10 });
        expect(listed.map((job) => job.waiting?.reason)).toEqual(listed.map(() => reason));
      }
      expect((await jobs.get(free[0]))!.waiting).toBeNull();
    } finally {
      await app.close();
    }
  });
});

/** A provider with one handler of 'email.send' declared with `options`. */
function emailKind(options: Record<string, unknown>): Type {
  @Injectable()
  class Email {
    @JobKind('email.send', options as JobKindOptions)
    send() {
      return undefined;
    }
  }
  return Email;
}

// Checked once, where it happens: in the kind's options at startup, before any database work.
describeBackends(
  'limits checked at startup',
  (backend) => {
    it.each([
      [{ concurrency: 0 }, /concurrency/],
      [{ concurrency: 1.5 }, /concurrency/],
      [{ rateLimit: { limit: 0, per: '1m' } }, /rateLimit[ .]limit/],
      [{ rateLimit: { limit: 10, per: 'abc' } }, /rateLimit[ .]per/],
      [{ group: { concurrency: -1 } }, /group[ .]concurrency/],
    ])('refuses %j at startup, naming the kind and the option', async (options, option) => {
      const database = await freshDatabase(backend);
      let app: TestingModule | undefined;
      let error: Error | undefined;
      try {
        app = await startApp({ database, providers: [emailKind(options)] });
      } catch (reason) {
        error = reason as Error;
      }
      await app?.close();
      expect(app).toBeUndefined();
      expect(error!.message).toMatch(/email\.send/);
      expect(error!.message).toMatch(option);
    });
  },
  backends.filter((backend) => backend.name === 'sqlite'),
);

// `run` (JobsService.runPending) from a cron beside running instances: its claims of a kind
// limited by its groups alone lock the groups' rows in nest_job_groups, as the instances' claims
// do. Before, they locked the kind's row, which the instances' claims never take: both could count
// a group free at once and each start one of its jobs. PostgreSQL only: a transaction here holds a
// group's row as an instance's claim would; on MariaDB the candidate read's INSERT IGNORE of the
// group rows waits for that lock (a runner's read waits for a claim the same way, for a moment).
describeBackends(
  '`runPending` beside running instances',
  (backend) => {
    it("starts no job of a group whose row another instance's claim holds, and the group's job once it is let go", async () => {
      const database = await freshDatabase(backend);
      const app = await startApp({ database, providers: [Accounts], jobs: { runner: false } });
      const source = app.get<DataSource>(getDataSourceToken());
      const claim = source.createQueryRunner();
      try {
        const jobs = app.get(JobsService);
        const [held, free] = await jobs.enqueueMany([
          { kind: 'account.sync', data: { ms: 0 }, group: 'held' },
          { kind: 'account.sync', data: { ms: 0 }, group: 'free' },
        ]);
        // The groups' rows, as an instance's candidate read makes them (never served).
        await source.query(
          `INSERT INTO nest_job_groups (kind, group_key, last_start) VALUES ($1, 'held', $2), ($1, 'free', $2)`,
          ['account.sync', -Date.now()],
        );
        await claim.connect();
        await claim.startTransaction();
        await claim.query(
          `SELECT group_key FROM nest_job_groups WHERE kind = $1 AND group_key = 'held' FOR NO KEY UPDATE`,
          ['account.sync'],
        );
        const first = await jobs.runPending();
        expect(first.ran).toBe(1);
        expect((await jobs.get(held.id))!.status).toBe('pending');
        expect((await jobs.get(free.id))!.status).toBe('succeeded');
        await claim.rollbackTransaction();
        const second = await jobs.runPending();
        expect(second.ran).toBe(1);
        expect((await jobs.get(held.id))!.status).toBe('succeeded');
      } finally {
        if (claim.isTransactionActive) await claim.rollbackTransaction();
        await claim.release();
        await app.close();
      }
    });
  },
  backends.filter((backend) => backend.name === 'postgres'),
);
