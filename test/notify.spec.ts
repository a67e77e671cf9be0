import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { JobKind, JobsService, type JobContext } from 'nestjs-typeorm-jobs';
import { JobsRunner } from '../lib/runner/jobs.runner.js';
import { backends, describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase, startApp, waitFor, waitForStatus } from './support/fixtures.js';

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
    it('starts a job enqueued by another instance at once, with polling once a minute', async () => {
      const database = await freshDatabase(backend);
      const runner = await startApp({ database, providers: [Work], jobs: SLOW_POLL });
      const web = await startApp({ database, providers: [Work], jobs: { runner: false } });
      try {
        const source = web.get<DataSource>(getDataSourceToken());
        await waitFor(async () => (await listeners(source)).length === 1, 'the runner to listen');
        await waitFor(() => runner.get(JobsRunner).status().lastPollAt !== null, 'the first poll');
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
      } finally {
        await web.close();
        await runner.close();
      }
    });

    it('wakes the instances that run a kind when the enqueuing one runs other kinds', async () => {
      const database = await freshDatabase(backend);
      const runner = await startApp({ database, providers: [Work], jobs: SLOW_POLL });
      // Its own runner is on, but it has no handler for 'note': only the other instance can run it.
      const other = await startApp({ database, jobs: SLOW_POLL });
      try {
        const source = other.get<DataSource>(getDataSourceToken());
        await waitFor(async () => (await listeners(source)).length === 2, 'both runners to listen');
        await waitFor(() => runner.get(JobsRunner).status().lastPollAt !== null, 'the first poll');
        const job = await other.get(JobsService).enqueue('note', {});
        await waitFor(() => runner.get(Work).started.has(job.id), 'the job to start', 5_000);
      } finally {
        await other.close();
        await runner.close();
      }
    });

    it('wakes other instances when the enqueuing transaction commits, not before', async () => {
      const database = await freshDatabase(backend);
      const runner = await startApp({ database, providers: [Work], jobs: SLOW_POLL });
      const web = await startApp({ database, providers: [Work], jobs: { runner: false } });
      try {
        const source = web.get<DataSource>(getDataSourceToken());
        await waitFor(async () => (await listeners(source)).length === 1, 'the runner to listen');
        await waitFor(() => runner.get(JobsRunner).status().lastPollAt !== null, 'the first poll');
        const work = runner.get(Work);
        let id = 0;
        await source.transaction(async (manager) => {
          id = (await web.get(JobsService).enqueue('note', {}, { manager })).id;
          // Not visible, not announced: nothing can start while the transaction is open.
          await new Promise((resolve) => setTimeout(resolve, 300));
          expect(work.started.size).toBe(0);
        });
        await waitFor(() => work.started.has(id), 'the job to start after the commit', 5_000);
      } finally {
        await web.close();
        await runner.close();
      }
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

    it('with notify: false, holds no listening connection and finds jobs by polling', async () => {
      const database = await freshDatabase(backend);
      const runner = await startApp({ database, providers: [Work], jobs: { notify: false, pollInterval: 200 } });
      const web = await startApp({ database, providers: [Work], jobs: { runner: false, notify: false } });
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
    });

    it('does not hold a connection of a pool too small to spare one, and polls instead', async () => {
      const database = await freshDatabase(backend);
      const small = { ...database, extra: { max: 2 } } as typeof database;
      const runner = await startApp({ database: small, providers: [Work], jobs: { pollInterval: 200 } });
      const web = await startApp({ database, jobs: { runner: false } });
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
