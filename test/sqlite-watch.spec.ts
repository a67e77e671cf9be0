import { Injectable } from '@nestjs/common';
import { JobKind, JobsService, type JobContext } from 'nestjs-typeorm-jobs';
import { backends } from './support/backends.js';
import { closeCleaners, freshDatabase, startApp, waitForStatus } from './support/fixtures.js';

/** A poll interval no test waits out: a job that runs was found by the file watch. */
const NO_POLL = 10 * 60_000;

@Injectable()
class Work {
  readonly started = new Map<number, number>();

  @JobKind('watched')
  run(job: JobContext) {
    this.started.set(job.id, Date.now());
  }
}

/**
 * Apps sharing a SQLite file send each other no NOTIFY: an idle runner learns of another's commit
 * from the operating system's watch on the file (lib/wakeups/sqlite-file.watcher.ts), not its poll.
 */
describe('SQLite file watch', () => {
  const sqlite = backends.find((backend) => backend.name === 'sqlite')!;
  afterAll(closeCleaners);

  it('an idle runner starts a job another app committed to the same file, long before its next poll', async () => {
    const database = await freshDatabase(sqlite);
    const worker = await startApp({
      database,
      providers: [Work],
      jobs: { pollInterval: NO_POLL },
    });
    const producer = await startApp({ database, providers: [Work], jobs: { runner: false } });
    try {
      const jobs = producer.get(JobsService);
      const latencies: number[] = [];
      for (let i = 0; i < 5; i++) {
        const enqueuedAt = Date.now();
        const job = await jobs.enqueue('watched', { i });
        await waitForStatus(worker, job.id, 'succeeded');
        latencies.push(worker.get(Work).started.get(job.id)! - enqueuedAt);
      }
      expect(worker.get(Work).started.size).toBe(5);
      console.log(
        `[latency figures] ${JSON.stringify({ backend: 'sqlite', watch: true, enqueueToStartMs: latencies })}`,
      );
    } finally {
      await producer.close();
      await worker.close();
    }
  });

  it('an in-memory database has no file to watch: the module starts and runs as before', async () => {
    const worker = await startApp({
      database: { type: 'better-sqlite3', database: ':memory:' },
      providers: [Work],
    });
    try {
      const job = await worker.get(JobsService).enqueue('watched', null);
      await waitForStatus(worker, job.id, 'succeeded');
    } finally {
      await worker.close();
    }
  });
});
