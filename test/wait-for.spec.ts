import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { TestingModule } from '@nestjs/testing';
import type { DataSource, DataSourceOptions, Logger as TypeOrmLogger } from 'typeorm';
import {
  InvalidJobsOptionError,
  JobCancelledError,
  JobFailedError,
  JobKind,
  JobNotFoundError,
  JobNotWaitableError,
  JobsService,
  JobWaitShutdownError,
  JobWaitTimeoutError,
  UnknownJobsOptionError,
  type JobContext,
} from 'nestjs-typeorm-jobs';
import { JobWaiters } from '../lib/waiting/job-waiters.js';
import { describeBackends, type Backend } from './support/backends.js';
import {
  closeCleaners,
  freshDatabase,
  startApp,
  waitFor,
  waitForStatus,
  withApp,
} from './support/fixtures.js';

/** Runs of 'gated' wait for `open()` (or their signal), so a test decides when a job ends. */
@Injectable()
class Work {
  readonly started = new Set<number>();
  private opened!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.opened = resolve));

  @JobKind('double', { maxAttempts: 1 })
  double(job: JobContext<{ n: number }>) {
    return { doubled: job.data.n * 2 };
  }

  @JobKind('broken', { maxAttempts: 2, backoff: 10 })
  broken(job: JobContext) {
    throw new Error(`broken on attempt ${job.attempt}`);
  }

  @JobKind('gated', { maxAttempts: 1 })
  async gated(job: JobContext) {
    this.started.add(job.id);
    await new Promise<void>((resolve, reject) => {
      void this.gate.then(resolve);
      job.signal.addEventListener('abort', () => reject(job.signal.reason as Error));
    });
    return 'opened';
  }

  @JobKind('hourly', { every: '1h' })
  hourly() {
    return undefined;
  }

  open() {
    this.opened();
  }
}

afterAll(closeCleaners);

/** Waits until `waitFor` has marked the job awaited: from then on, only its end settles the wait. */
async function awaited(jobs: JobsService, id: number): Promise<void> {
  await waitFor(async () => (await jobs.get(id))?.awaited, `job ${id} to be awaited`);
}

/** What a promise settled with, as a value (so a rejection is never left unhandled meanwhile). */
function outcome<T>(promise: Promise<T>): Promise<T | Error> {
  return promise.catch((error: Error) => error);
}

/** PostgreSQL backend pids LISTENing for the jobs channel (each instance that listens holds one). */
async function listeners(source: DataSource): Promise<number> {
  const rows: unknown[] = await source.query(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN nest_jobs'`,
  );
  return rows.length;
}

interface Statement {
  sql: string;
  params: unknown[];
}

/** Every statement a data source runs through TypeORM, with its parameters. */
class StatementLog implements TypeOrmLogger {
  readonly statements: Statement[] = [];
  logQuery(sql: string, params?: unknown[]) {
    this.statements.push({ sql, params: params ?? [] });
  }
  logQueryError() {}
  logQuerySlow() {}
  logSchemaBuild() {}
  logMigration() {}
  log() {}
}

/** The job ids a statement names: bound, or written inline (as TypeORM does on SQLite). */
function idsOf({ sql, params }: Statement): number[] {
  const inline = /"id" IN \(([\d, ]+)\)/.exec(sql)?.[1].split(',').map(Number) ?? [];
  return [...params.map(Number), ...inline];
}

describeBackends('waitFor and enqueueAndWait', (backend: Backend) => {
  async function withWorker(use: (app: TestingModule, jobs: JobsService) => Promise<void>) {
    await withApp({ database: await freshDatabase(backend), providers: [Work] }, async (app) => {
      try {
        await use(app, app.get(JobsService));
      } finally {
        app.get(Work).open(); // no gated run holds the shutdown
      }
    });
  }

  it('resolves with the finished job and its result when it succeeds', async () => {
    await withWorker(async (_app, jobs) => {
      const job = await jobs.enqueue('double', { n: 21 });
      const done = await jobs.waitFor<{ doubled: number }>(job.id);
      expect(done).toMatchObject({ id: job.id, status: 'succeeded', result: { doubled: 42 } });

      // enqueueAndWait: `timeout` bounds the wait, as in waitFor; the run's own is `runTimeout`.
      const both = await jobs.enqueueAndWait(
        'double',
        { n: 2 },
        { runTimeout: 5_000, timeout: '30s' },
      );
      expect(both).toMatchObject({ status: 'succeeded', result: { doubled: 4 }, timeout: 5_000 });
    });
  });

  it('keeps waiting through retries and rejects with JobFailedError once the job fails for good', async () => {
    await withWorker(async (_app, jobs) => {
      const job = await jobs.enqueue('broken', {});
      const error = await outcome(jobs.waitFor(job.id));
      expect(error).toBeInstanceOf(JobFailedError);
      // The first attempt's failure (pending, failed = true) did not end the wait: the second did.
      expect((error as JobFailedError).lastError).toContain('broken on attempt 2');
      expect((error as JobFailedError).job).toMatchObject({ status: 'failed', attempts: 2 });
    });
  });

  it('rejects with JobCancelledError when a pending job is cancelled while awaited', async () => {
    await withWorker(async (_app, jobs) => {
      const job = await jobs.enqueue('double', { n: 1 }, { delay: 60_000 });
      const waiting = outcome(jobs.waitFor(job.id));
      await awaited(jobs, job.id);
      await jobs.cancel(job.id);
      const error = await waiting;
      expect(error).toBeInstanceOf(JobCancelledError);
      expect(error).toMatchObject({ id: job.id, job: { status: 'cancelled' } });
    });
  });

  it('rejects with JobCancelledError when a running job is cancelled while awaited', async () => {
    await withWorker(async (app, jobs) => {
      const job = await jobs.enqueue('gated', {});
      await waitFor(() => app.get(Work).started.has(job.id), 'the run to start');
      const waiting = outcome(jobs.waitFor(job.id));
      await awaited(jobs, job.id);
      await jobs.cancel(job.id);
      expect(await waiting).toBeInstanceOf(JobCancelledError);
    });
  });

  it('rejects with JobWaitTimeoutError at the timeout, and the job goes on', async () => {
    await withWorker(async (app, jobs) => {
      const job = await jobs.enqueue('gated', {});
      await waitFor(() => app.get(Work).started.has(job.id), 'the run to start');
      const error = await outcome(jobs.waitFor(job.id, { timeout: 200 }));
      expect(error).toBeInstanceOf(JobWaitTimeoutError);
      expect(error).toMatchObject({ id: job.id, timeoutMs: 200 });

      const again = jobs.waitFor(job.id, { timeout: '1m' });
      app.get(Work).open();
      expect(await again).toMatchObject({ status: 'succeeded', result: 'opened' });
    });
  });

  it('rejects at once for an unknown id, and refuses bad wait options', async () => {
    await withWorker(async (_app, jobs) => {
      await expect(jobs.waitFor(987_654)).rejects.toBeInstanceOf(JobNotFoundError);
      await expect(jobs.waitFor(2 ** 40)).rejects.toBeInstanceOf(JobNotFoundError);
      await expect(jobs.waitFor(1.5)).rejects.toBeInstanceOf(InvalidJobsOptionError);
      const job = await jobs.enqueue('double', { n: 1 }, { delay: 60_000 });
      for (const timeout of [-1, 'soon', 2 ** 31, Number.NaN]) {
        await expect(jobs.waitFor(job.id, { timeout })).rejects.toBeInstanceOf(
          InvalidJobsOptionError,
        );
      }
      await expect(jobs.waitFor(job.id, { timout: 5 } as never)).rejects.toBeInstanceOf(
        UnknownJobsOptionError,
      );
      // Refused before any mark: nobody waits for it.
      expect((await jobs.get(job.id))!.awaited).toBe(false);
    });
  });

  it('refuses periodic jobs and schedule rows, writing nothing for enqueueAndWait', async () => {
    await withWorker(async (app, jobs) => {
      const periodic = await jobs.enqueue(
        'double',
        { n: 1 },
        { periodic: true, every: '1h', delay: 60_000 },
      );
      await expect(jobs.waitFor(periodic.id)).rejects.toMatchObject({
        constructor: JobNotWaitableError,
        id: periodic.id,
        kind: 'double',
      });
      const [schedule] = await waitFor(
        async () => (await jobs.list({ kind: 'hourly' })).filter((job) => job.schedule !== null),
        'the declared schedule row',
      );
      await expect(jobs.waitFor(schedule.id)).rejects.toBeInstanceOf(JobNotWaitableError);

      const before = (await jobs.list({ limit: 1000 })).length;
      await expect(
        jobs.enqueueAndWait('double', { n: 1 }, { periodic: true, interval: 60_000 }),
      ).rejects.toMatchObject({ constructor: JobNotWaitableError, id: null, kind: 'double' });
      // Nor what could never be waited for, nor a bad wait timeout.
      const source = app.get<DataSource>(getDataSourceToken());
      await expect(
        jobs.enqueueAndWait('double', { n: 1 }, { manager: source.manager } as never),
      ).rejects.toBeInstanceOf(InvalidJobsOptionError);
      await expect(
        jobs.enqueueAndWait('double', { n: 1 }, { timeout: 'never' }),
      ).rejects.toBeInstanceOf(InvalidJobsOptionError);
      expect((await jobs.list({ limit: 1000 })).length).toBe(before);
    });
  });

  it('settles at once for a job that has already ended, without marking it awaited', async () => {
    await withWorker(async (app, jobs) => {
      const ok = await jobs.enqueue('double', { n: 3 });
      const broken = await jobs.enqueue('broken', {});
      const cancelled = await jobs.enqueue('double', { n: 3 }, { delay: 60_000 });
      await jobs.cancel(cancelled.id);
      await waitForStatus(app, ok.id, 'succeeded');
      await waitForStatus(app, broken.id, 'failed');

      expect(await jobs.waitFor(ok.id)).toMatchObject({ result: { doubled: 6 } });
      await expect(jobs.waitFor(broken.id)).rejects.toBeInstanceOf(JobFailedError);
      await expect(jobs.waitFor(cancelled.id)).rejects.toBeInstanceOf(JobCancelledError);
      for (const id of [ok.id, broken.id, cancelled.id]) {
        expect((await jobs.get(id))!.awaited).toBe(false);
      }
    });
  });

  it('settles every waiter of one job, and enqueueAndWait with unique waits for the key holder', async () => {
    await withWorker(async (app, jobs) => {
      const job = await jobs.enqueue('gated', {}, { unique: 'the-one' });
      const first = jobs.waitFor(job.id);
      const second = jobs.waitFor(job.id);
      const third = jobs.enqueueAndWait('gated', {}, { unique: 'the-one' });
      // Open the gate only once all three wait (the third on the job holding the key).
      await waitFor(() => app.get(JobWaiters).waitingFor(job.id) === 3, 'three waits');
      app.get(Work).open();
      const ended = await Promise.all([first, second, third]);
      for (const done of ended) {
        expect(done).toMatchObject({ id: job.id, status: 'succeeded', result: 'opened' });
      }
      expect(await jobs.list({ kind: 'gated' })).toHaveLength(1);
    });
  });

  it('rejects pending waits with JobWaitShutdownError when the application shuts down', async () => {
    const app = await startApp({ database: await freshDatabase(backend), providers: [Work] });
    const jobs = app.get(JobsService);
    const job = await jobs.enqueue('double', { n: 1 }, { delay: 60_000 });
    const waiting = outcome(jobs.waitFor(job.id));
    await awaited(jobs, job.id);
    await app.close();
    expect(await waiting).toMatchObject({ constructor: JobWaitShutdownError, id: job.id });
  });

  describe('with the job run by another instance', () => {
    /**
     * A worker (runner on) and a web instance (runner off) on one database. On PostgreSQL the web
     * instance polls every 10 minutes, longer than any test may take: only a NOTIFY can wake it.
     */
    async function withPair(
      use: (pair: { worker: TestingModule; web: JobsService; source: DataSource }) => Promise<void>,
    ): Promise<void> {
      const database = await freshDatabase(backend);
      const worker = await startApp({ database, providers: [Work] });
      const pollInterval = backend.name === 'postgres' ? 600_000 : 50;
      const web = await startApp({
        database,
        providers: [Work],
        jobs: { runner: false, pollInterval },
      });
      try {
        await use({ worker, web: web.get(JobsService), source: web.get(getDataSourceToken()) });
      } finally {
        worker.get(Work).open();
        await web.close();
        await worker.close();
      }
    }

    /** On PostgreSQL, until the web instance listens too (it starts when something waits). */
    async function bothListen(source: DataSource): Promise<void> {
      if (backend.name !== 'postgres') return;
      await waitFor(async () => (await listeners(source)) === 2, 'both instances to listen');
    }

    it('resolves when the other instance runs the job to success', async () => {
      await withPair(async ({ worker, web, source }) => {
        const job = await web.enqueue('gated', {});
        await waitFor(() => worker.get(Work).started.has(job.id), 'the run to start');
        const waiting = web.waitFor(job.id);
        await awaited(web, job.id);
        await bothListen(source);
        worker.get(Work).open();
        expect(await waiting).toMatchObject({ id: job.id, status: 'succeeded', result: 'opened' });

        expect(await web.enqueueAndWait('double', { n: 8 })).toMatchObject({
          result: { doubled: 16 },
        });
      });
    });

    it('rejects with JobCancelledError when the other instance cancels the job', async () => {
      await withPair(async ({ worker, web, source }) => {
        const job = await web.enqueue('double', { n: 1 }, { delay: 60_000 });
        const waiting = outcome(web.waitFor(job.id));
        await awaited(web, job.id);
        await bothListen(source);
        await worker.get(JobsService).cancel(job.id);
        expect(await waiting).toBeInstanceOf(JobCancelledError);
      });
    });
  });

  it('reads the statuses of all awaited jobs in one statement per poll', async () => {
    const log = new StatementLog();
    const database = {
      ...(await freshDatabase(backend)),
      logging: true,
      logger: log,
    } as DataSourceOptions;
    // No runner anywhere: the jobs stay pending, and the polls are all this instance does.
    await withApp(
      { database, providers: [Work], jobs: { runner: false, pollInterval: 100 } },
      async (app) => {
        const jobs = app.get(JobsService);
        const ids = await Promise.all(
          [1, 2, 3].map(async (n) => (await jobs.enqueue('double', { n })).id),
        );
        // Four waits, two of them on one job.
        const waits = [...ids, ids[0]].map((id) => outcome(jobs.waitFor(id)));
        for (const id of ids) await awaited(jobs, id);
        const isPoll = (statement: Statement) => {
          const named = idsOf(statement);
          return named.length === ids.length && ids.every((id) => named.includes(id));
        };
        const polled = (from: number) => log.statements.slice(from).filter(isPoll).length;
        // From the first poll after the waits began (and this test's own reads ended)...
        const settled = log.statements.length;
        await waitFor(() => polled(settled) >= 1, 'a first poll');
        const start = log.statements.findIndex((s, i) => i >= settled && isPoll(s)) + 1;
        // ...for three more polls: each is one statement carrying each awaited id once, and the
        // instance runs nothing else meanwhile (no statement per waiter).
        await waitFor(() => polled(start) >= 3, 'three more polls');
        const window = log.statements.slice(start);
        expect(window.length).toBeGreaterThanOrEqual(3);
        expect(window.filter((statement) => !isPoll(statement))).toEqual([]);

        for (const id of ids) await jobs.cancel(id);
        for (const ended of await Promise.all(waits)) {
          expect(ended).toBeInstanceOf(JobCancelledError);
        }
      },
    );
  });
});
