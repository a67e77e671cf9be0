import { Injectable } from '@nestjs/common';
import { JobKind, JobsService, type JobContext } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase, startApp, waitFor } from './support/fixtures.js';

/** Runs per job id, across every app instance in this process. */
const runs = new Map<number, string[]>();

@Injectable()
class Counted {
  @JobKind('counted')
  async run(job: JobContext<{ n: number }>) {
    runs.set(job.id, [...(runs.get(job.id) ?? []), process.pid + ':' + job.attempt]);
    if (job.data.n % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

afterAll(closeCleaners);

const JOBS = 2_000;

describeBackends('two app instances on one database', (backend) => {
  it(`run ${JOBS} jobs with none run twice and none left behind`, async () => {
    runs.clear();
    const database = await freshDatabase(backend);
    const apps = await Promise.all(
      [0, 1].map(() =>
        startApp({ database, providers: [Counted], jobs: { concurrency: 10, pollInterval: 20 } }),
      ),
    );
    try {
      const ids: number[] = [];
      // Enqueue while both runners are already polling, from both instances.
      for (let batch = 0; batch < JOBS / 250; batch++) {
        const service = apps[batch % 2].get(JobsService);
        const added = await service.enqueueMany(
          Array.from({ length: 250 }, (_, i) => ({
            kind: 'counted',
            data: { n: batch * 250 + i },
          })),
        );
        ids.push(...added.map((job) => job.id));
      }
      const jobs = apps[0].get(JobsService);
      await waitFor(
        async () =>
          (await jobs.list({ status: 'succeeded', limit: 1, order: 'newest' })).length > 0 &&
          runs.size === JOBS,
        'every job to run',
        60_000,
      );
      await waitFor(
        async () => (await jobs.list({ active: true, limit: 1 })).length === 0,
        'no active job',
        30_000,
      );
      const twice = [...runs.entries()].filter(([, list]) => list.length > 1);
      expect(twice).toEqual([]);
      expect(new Set(ids).size).toBe(JOBS);
      expect(ids.every((id) => runs.has(id))).toBe(true);
      const succeeded = await countSucceeded(jobs);
      expect(succeeded).toBe(JOBS);
    } finally {
      await Promise.all(apps.map((app) => app.close()));
    }
  });
});

async function countSucceeded(jobs: JobsService): Promise<number> {
  let total = 0;
  let after: number | undefined;
  for (;;) {
    const page = await jobs.list({ status: 'succeeded', limit: 1_000, after });
    total += page.length;
    if (page.length < 1_000) return total;
    after = page[page.length - 1].id;
  }
}
