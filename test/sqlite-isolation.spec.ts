import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource, DataSourceOptions, EntityManager } from 'typeorm';
import {
  JobKind,
  JobsService,
  SqliteTransactionOpenError,
  type JobContext,
  type JobEntity,
} from 'nestjs-typeorm-jobs';
import { backends, describeBackends } from './support/backends.js';
import { freshDatabase, startApp, waitFor, waitForStatus } from './support/fixtures.js';

// TypeORM drives SQLite through one connection: these are SQLite's own cases of "no write of the
// module joins a transaction that is not its own". The servers give each transaction a connection.

/** Handler calls per job id, across every app of a test. */
const runs = new Map<number, number>();
let releaseSlow: () => void = () => undefined;

@Injectable()
class Workers {
  @JobKind('isolation.work')
  async work(job: JobContext<{ n: number }>) {
    runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
    await new Promise((resolve) => setTimeout(resolve, 10 + (job.data.n % 5) * 10));
  }

  @JobKind('isolation.slow')
  async slow(job: JobContext) {
    runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
    await new Promise<void>((resolve) => (releaseSlow = resolve));
  }
}

class Rollback extends Error {}

const sourceOf = (app: TestingModule) => app.get<DataSource>(getDataSourceToken());

/** Runs `work` in a transaction of the app that then rolls back. */
async function rolledBack(source: DataSource, work: (manager: EntityManager) => Promise<void>) {
  await source
    .transaction(async (manager) => {
      await work(manager);
      throw new Rollback();
    })
    .catch((error) => {
      if (!(error instanceof Rollback)) throw error;
    });
}

/**
 * The app's traffic: transactions of ~300 ms that roll back, one after another with a short idle
 * moment between them, until `stop()`. Returns how many ran.
 */
async function rollingBackTraffic(
  source: DataSource,
  stop: () => boolean,
  statement: string,
): Promise<number> {
  let count = 0;
  while (!stop()) {
    await rolledBack(source, async (manager) => {
      await manager.query(statement);
      await new Promise((resolve) => setTimeout(resolve, 300));
    });
    count++;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return count;
}

const countJobs = async (source: DataSource) =>
  Number((await source.query('SELECT COUNT(*) AS n FROM nest_jobs'))[0].n);

describeBackends(
  'SQLite: the module writes outside the app transactions',
  (backend) => {
    let apps: TestingModule[] = [];
    let database: DataSourceOptions;

    const start = async (jobs: object, options: Partial<DataSourceOptions> = {}) => {
      const app = await startApp({
        database: { ...database, ...options } as DataSourceOptions,
        providers: [Workers],
        jobs: { pollInterval: 50, lease: 1_000, ...jobs },
      });
      apps.push(app);
      await sourceOf(app).query('CREATE TABLE IF NOT EXISTS app_audit (note TEXT)');
      return { app, source: sourceOf(app), jobs: app.get(JobsService) };
    };

    beforeEach(async () => {
      runs.clear();
      database = await freshDatabase(backend);
    });

    afterEach(async () => {
      releaseSlow();
      for (const app of apps.reverse()) await app.close();
      apps = [];
    });

    it('runs each of 200 jobs once while app transactions roll back around their outcomes', async () => {
      const { source, jobs } = await start({ concurrency: 10 });
      // Enqueued first: this case is about the runner's writes (an enqueue has its own below).
      const added = await jobs.enqueueMany(
        Array.from({ length: 200 }, (_, n) => ({ kind: 'isolation.work', data: { n } })),
      );
      let done = false;
      const traffic = rollingBackTraffic(
        source,
        () => done,
        "INSERT INTO app_audit (note) VALUES ('rolled back')",
      );
      const succeeded = async () =>
        (await jobs.list({ status: 'succeeded', limit: 1_000 })).length === 200;
      await waitFor(succeeded, '200 jobs succeeded', 70_000);
      done = true;
      expect(await traffic).toBeGreaterThan(0);
      // Only now is nothing of the app's left open: a rolled-back outcome would show here.
      await waitFor(succeeded, '200 jobs succeeded after the last rollback', 10_000);
      expect(added.map((job) => runs.get(job.id) ?? 0)).toEqual(added.map(() => 1));
      const rows = await jobs.list({ limit: 1_000 });
      expect(rows.filter((job) => job.status === 'succeeded' && job.attempts === 1).length).toBe(
        200,
      );
      expect(await source.query('SELECT * FROM app_audit')).toEqual([]);
    }, 100_000);

    it('keeps a lease renewed during an app transaction that rolls back: another instance does not take the job', async () => {
      const first = await start({});
      const job = await first.jobs.enqueue('isolation.slow', {});
      const running = await waitForStatus(first.app, job.id, 'running');
      // A second instance on the same file, that would reclaim the job once its lease expired. It
      // busy-waits on SQLite's file lock in this same thread, so the app's transactions here only
      // read: a writing one would hold that lock while the other waits.
      const second = await start({}, { timeout: 200 } as Partial<DataSourceOptions>);
      let done = false;
      const traffic = rollingBackTraffic(
        first.source,
        () => done,
        'SELECT COUNT(*) FROM app_audit',
      );
      // Committed state, read through the second instance's own connection.
      const leaseOutlived = await waitFor(
        async () => {
          const row = (await second.jobs.get(job.id))!;
          const reclaimed = (runs.get(job.id) ?? 0) > 1 || row.lockedBy !== running.lockedBy;
          const renewedFor = row.lockedUntil!.getTime() - running.lastRun!.getTime();
          return reclaimed || renewedFor > 4_000 ? { reclaimed, renewedFor } : null;
        },
        'the lease to be renewed past four leases, or the job reclaimed',
        20_000,
      );
      done = true;
      expect(await traffic).toBeGreaterThan(5);
      expect(leaseOutlived.reclaimed).toBe(false);
      releaseSlow();
      await waitForStatus(first.app, job.id, 'succeeded');
      expect(runs.get(job.id)).toBe(1);
    }, 40_000);

    it('keeps a job enqueued while another flow holds a transaction that rolls back', async () => {
      const { source, jobs } = await start({ runner: false });
      let settled = false;
      let settledInside = true;
      let enqueued!: Promise<JobEntity>;
      await rolledBack(source, async (manager) => {
        await manager.query("INSERT INTO app_audit (note) VALUES ('rolled back')");
        // Another flow enqueues (no manager): it must neither join this transaction nor be lost.
        enqueued = jobs.enqueue('isolation.work', { n: 1 });
        enqueued.then(
          () => (settled = true),
          () => (settled = true),
        );
        // Before the fix, the enqueue finished within these turns, inside the transaction.
        for (let turn = 0; turn < 50 && !settled; turn++)
          await new Promise((resolve) => setImmediate(resolve));
        settledInside = settled;
      });
      expect(settledInside).toBe(false);
      const job = await enqueued;
      expect(await jobs.get(job.id)).toMatchObject({ id: job.id, status: 'pending' });
      expect(await source.query('SELECT * FROM app_audit')).toEqual([]);
    });

    it("keeps a job enqueued with the data source's own manager while another flow's transaction rolls back", async () => {
      const { source, jobs } = await start({ runner: false });
      let enqueued!: Promise<JobEntity>;
      await rolledBack(source, async () => {
        // What @InjectEntityManager() gives: no query runner, so no transaction of the caller's.
        enqueued = jobs.enqueue('isolation.work', { n: 1 }, { manager: source.manager });
        for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve));
      });
      const job = await enqueued;
      expect(await jobs.get(job.id)).toMatchObject({ id: job.id, status: 'pending' });
    });

    it('keeps a cancel made while another flow holds a transaction that rolls back', async () => {
      const { source, jobs } = await start({ runner: false });
      const job = await jobs.enqueue('isolation.work', { n: 1 });
      let cancelled!: Promise<boolean>;
      await rolledBack(source, async () => {
        cancelled = jobs.cancel(job.id);
        for (let turn = 0; turn < 50; turn++) await new Promise((resolve) => setImmediate(resolve));
      });
      expect(await cancelled).toBe(true);
      expect(await jobs.get(job.id)).toMatchObject({ status: 'cancelled' });
    });

    it('refuses, after waiting, an enqueue awaited inside a transaction without its manager', async () => {
      const { source, jobs } = await start({ runner: false });
      const error = await source.transaction(async () =>
        jobs.enqueue('isolation.work', { n: 1 }).then(
          () => null,
          (failure: unknown) => failure,
        ),
      );
      expect(error).toBeInstanceOf(SqliteTransactionOpenError);
      expect((error as Error).message).toContain('{ manager }');
      expect(await countJobs(source)).toBe(0);
    }, 20_000);

    it('enqueues with the manager inside the transaction, and rolls back with it', async () => {
      const { source, jobs } = await start({ runner: false });
      let inside = 0;
      await rolledBack(source, async (manager) => {
        await jobs.enqueue('isolation.work', { n: 1 }, { manager });
        inside = await countJobs(source);
      });
      expect(inside).toBe(1);
      expect(await countJobs(source)).toBe(0);
    });
  },
  backends.filter((backend) => backend.name === 'sqlite'),
);
