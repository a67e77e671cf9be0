import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource, DataSourceOptions } from 'typeorm';
import { JobKind, JobsService, type JobContext, type JobsModuleOptions } from 'nestjs-typeorm-jobs';
import pg from 'pg';
import { JobsRunner } from '../lib/runner/jobs.runner.js';
import { NOTIFY_GAP_MS } from '../lib/wakeups/postgres.notifier.js';
import type { TestingModule } from '@nestjs/testing';
import { backends, describeBackends } from './support/backends.js';
import {
  closeCleaners,
  freshDatabase,
  startApp,
  waitFor,
  waitForStatus,
} from './support/fixtures.js';

@Injectable()
class Work {
  readonly started = new Set<number>();
  failNext = false;

  @JobKind('note', { maxAttempts: 1 })
  note(job: JobContext) {
    this.started.add(job.id);
    if (this.failNext) {
      this.failNext = false;
      throw new Error('failed on purpose');
    }
  }
}

afterAll(closeCleaners);

/** Polling once a minute: within a test, only a notification can wake a runner. */
const SLOW_POLL = { pollInterval: 60_000 };

/** What `work` returns, and every statement this process sent through pg meanwhile, by its text. */
async function statementsOf<T>(work: () => Promise<T>): Promise<{ value: T; texts: string[] }> {
  const texts: string[] = [];
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function recorded(this: pg.Client, ...args: unknown[]) {
    const [first] = args as [string | { text?: string }];
    texts.push(typeof first === 'string' ? first : (first?.text ?? ''));
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  try {
    return { value: await work(), texts };
  } finally {
    pg.Client.prototype.query = original;
  }
}

/** One INSERT, carrying the wake-up, and no NOTIFY of its own. */
function expectCarried(texts: string[]): void {
  const inserts = texts.filter((text) => text.includes('INSERT INTO nest_jobs '));
  expect(inserts).toHaveLength(1);
  expect(inserts[0]).toContain('pg_notify');
  expect(texts.filter((text) => /^\s*SELECT pg_notify/.test(text))).toEqual([]);
}

/** Backend pids of this database's connections LISTENing for job wake-ups. */
async function listeners(source: DataSource): Promise<number[]> {
  const rows: Array<{ pid: number }> = await source.query(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN nest_jobs' AND pid <> pg_backend_pid()`,
  );
  return rows.map((row) => Number(row.pid));
}

describeBackends(
  'wake-ups across instances (LISTEN/NOTIFY)',
  (backend) => {
    /**
     * A runner polling once a minute and a second instance (runner off unless `other` says), both
     * started and listening; `test` gets them, and they are closed after it.
     */
    async function withListeningPair(
      test: (pair: {
        runner: TestingModule;
        web: TestingModule;
        source: DataSource;
      }) => Promise<void>,
      other: JobsModuleOptions = { runner: false },
    ): Promise<void> {
      const database = await freshDatabase(backend);
      const runner = await startApp({ database, providers: [Work], jobs: SLOW_POLL });
      // Runner off: it knows the kinds (as a web tier built from the same code does). Runner on: it has no handlers.
      const web = await startApp({
        database,
        providers: other.runner === false ? [Work] : [],
        jobs: other,
      });
      try {
        const source = web.get<DataSource>(getDataSourceToken());
        const expected = other.runner === false ? 1 : 2;
        await waitFor(
          async () => (await listeners(source)).length === expected,
          'the runners to listen',
        );
        await waitFor(() => runner.get(JobsRunner).status().lastPollAt !== null, 'the first poll');
        await test({ runner, web, source });
      } finally {
        await web.close();
        await runner.close();
      }
    }

    it('starts a job enqueued by another instance at once, with polling once a minute', async () => {
      await withListeningPair(async ({ runner, web }) => {
        const work = runner.get(Work);
        const job = await web.get(JobsService).enqueue('note', {});
        await waitFor(() => work.started.has(job.id), 'the job to start', 5_000);
        await waitForStatus(runner, job.id, 'succeeded');

        // A retry from the other instance wakes it too.
        work.failNext = true;
        const failing = await web.get(JobsService).enqueue('note', {});
        await waitForStatus(runner, failing.id, 'failed');
        work.started.clear();
        await web.get(JobsService).retry(failing.id);
        await waitFor(() => work.started.has(failing.id), 'the retried job to start', 5_000);
        await waitForStatus(runner, failing.id, 'succeeded');
      });
    });

    it('wakes the instances that run a kind when the enqueuing one runs other kinds', async () => {
      // The other instance's runner is on, but it has no handler for 'note': only the first can run it.
      await withListeningPair(async ({ runner, web }) => {
        const job = await web.get(JobsService).enqueue('note', {});
        await waitFor(() => runner.get(Work).started.has(job.id), 'the job to start', 5_000);
      }, SLOW_POLL);
    });

    it('wakes other instances when the enqueuing transaction commits, not before', async () => {
      await withListeningPair(async ({ runner, web, source }) => {
        const work = runner.get(Work);
        let id = 0;
        await source.transaction(async (manager) => {
          id = (await web.get(JobsService).enqueue('note', {}, { manager })).id;
          // Not visible, not announced: nothing can start while the transaction is open.
          await new Promise((resolve) => setTimeout(resolve, 300));
          expect(work.started.size).toBe(0);
        });
        await waitFor(() => work.started.has(id), 'the job to start after the commit', 5_000);
      });
    });

    it('carries the wake-up of a lone enqueue on its INSERT: one statement, no NOTIFY of its own', async () => {
      await withListeningPair(async ({ runner, web }) => {
        const { value: job, texts } = await statementsOf(() =>
          web.get(JobsService).enqueue('note', {}),
        );
        // Polling once a minute: only the carried NOTIFY can start it.
        await waitFor(() => runner.get(Work).started.has(job.id), 'the job to start', 5_000);
        expectCarried(texts);
      });
    });

    it("carries the wake-up of an enqueueMany on its INSERT, and gives each spec its own job's id", async () => {
      await withListeningPair(async ({ runner, web }) => {
        const { value: jobs, texts } = await statementsOf(() =>
          web
            .get(JobsService)
            .enqueueMany([0, 1, 2, 3, 4].map((n) => ({ kind: 'note', data: { n } }))),
        );
        const stored = await Promise.all(jobs.map((job) => web.get(JobsService).get(job.id)));
        expect(stored.map((job) => job?.data)).toEqual([0, 1, 2, 3, 4].map((n) => ({ n })));
        // Polling once a minute: only the carried NOTIFY can start them.
        for (const job of jobs) {
          await waitFor(
            () => runner.get(Work).started.has(job.id),
            `job ${job.id} to start`,
            5_000,
          );
        }
        expectCarried(texts);
      });
    });

    it('wakes the runner for every job of a burst of single enqueues, with at most one NOTIFY per NOTIFY_GAP_MS (and one after it)', async () => {
      await withListeningPair(async ({ runner, web }) => {
        const { url } = web.get<DataSource>(getDataSourceToken()).options as { url: string };
        const listener = new pg.Client({ connectionString: url });
        await listener.connect();
        let wakeUps = 0;
        listener.on('notification', () => wakeUps++);
        await listener.query('LISTEN nest_jobs');
        try {
          const work = runner.get(Work);
          const service = web.get(JobsService);
          const started = Date.now();
          // 300 single enqueues, 10 at a time, as a busy web tier makes them.
          let next = 0;
          const ids: number[] = [];
          await Promise.all(
            Array.from({ length: 10 }, async () => {
              while (next++ < 300) ids.push((await service.enqueue('note', {})).id);
            }),
          );
          const elapsed = Date.now() - started;
          // Polling once a minute: only the NOTIFYs, the last one sent after the burst, start them.
          await waitFor(
            () => ids.every((id) => work.started.has(id)),
            'every job to start',
            10_000,
          );
          expect(wakeUps).toBeGreaterThan(0);
          expect(wakeUps).toBeLessThanOrEqual(Math.ceil(elapsed / NOTIFY_GAP_MS) + 2);
        } finally {
          await listener.end();
        }
      });
    });

    it('listens again after its connection is killed', async () => {
      const database = await freshDatabase(backend);
      const runner = await startApp({ database, providers: [Work], jobs: SLOW_POLL });
      const web = await startApp({ database, providers: [Work], jobs: { runner: false } });
      try {
        const source = web.get<DataSource>(getDataSourceToken());
        const [first] = await waitFor(async () => {
          const pids = await listeners(source);
          return pids.length === 1 && pids;
        }, 'the runner to listen');
        await source.query('SELECT pg_terminate_backend($1)', [first]);
        const [second] = await waitFor(async () => {
          const pids = await listeners(source);
          return pids.length === 1 && pids[0] !== first && pids;
        }, 'a new listening connection');
        expect(second).not.toBe(first);
        const job = await web.get(JobsService).enqueue('note', {});
        await waitFor(() => runner.get(Work).started.has(job.id), 'the job to start', 5_000);
      } finally {
        await web.close();
        await runner.close();
      }
    });

    /** A runner set up so that it must not listen: it holds no LISTEN connection and still finds jobs by polling. */
    async function expectPollingOnly(
      runnerDatabase: DataSourceOptions,
      jobs: JobsModuleOptions,
    ): Promise<void> {
      const database = await freshDatabase(backend);
      const runner = await startApp({
        database: { ...database, ...runnerDatabase } as DataSourceOptions,
        providers: [Work],
        jobs: { ...jobs, pollInterval: 200 },
      });
      const web = await startApp({ database, jobs: { runner: false, notify: jobs.notify } });
      try {
        const source = web.get<DataSource>(getDataSourceToken());
        await waitFor(() => runner.get(JobsRunner).status().lastPollAt !== null, 'the first poll');
        expect(await listeners(source)).toEqual([]);
        const job = await web.get(JobsService).enqueue('note', {});
        await waitForStatus(runner, job.id, 'succeeded');
      } finally {
        await web.close();
        await runner.close();
      }
    }

    it('with notify: false, holds no listening connection and finds jobs by polling', async () => {
      await expectPollingOnly({} as DataSourceOptions, { notify: false });
    });

    it('does not hold a connection of a pool too small to spare one, and polls instead', async () => {
      await expectPollingOnly({ extra: { max: 2 } } as unknown as DataSourceOptions, {});
    });

    it('stops listening and gives its connection back at shutdown', async () => {
      const database = await freshDatabase(backend);
      const runner = await startApp({ database, providers: [Work], jobs: SLOW_POLL });
      const web = await startApp({ database, jobs: { runner: false } });
      try {
        const source = web.get<DataSource>(getDataSourceToken());
        await waitFor(async () => (await listeners(source)).length === 1, 'the runner to listen');
        await runner.close();
        expect(await listeners(source)).toEqual([]);
      } finally {
        await web.close();
      }
    });
  },
  backends.filter((backend) => backend.name === 'postgres'),
);
