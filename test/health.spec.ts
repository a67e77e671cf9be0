import { Injectable } from '@nestjs/common';
import { JobKind, JobsHealthIndicator, JobsService } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase, startApp, waitFor, withApp } from './support/fixtures.js';

@Injectable()
class Noop {
  @JobKind('noop')
  run() {
    return undefined;
  }
}

afterAll(closeCleaners);

describeBackends('health indicator', (backend) => {
  it('is up while the runner polls and nothing due waits too long', async () => {
    await withApp({ database: await freshDatabase(backend), providers: [Noop] }, async (app) => {
      const health = app.get(JobsHealthIndicator);
      const result = await waitFor(() => health.check('jobs').catch(() => null), 'an up check');
      expect(result).toEqual({
        jobs: {
          status: 'up',
          runner: 'polling',
          running: 0,
          oldestDueAgeMs: 0,
          unhandledKinds: [],
        },
      });
    });
  });

  it('is down, in the shape terminus reads, when a due job has waited longer than maxDueAge', async () => {
    await withApp(
      {
        database: await freshDatabase(backend),
        providers: [Noop],
        jobs: { runner: false },
      },
      async (app) => {
        await app.get(JobsService).enqueue('noop', {}, { runAt: new Date(Date.now() - 120_000) });
        type Failure = {
          isHealthCheckError: boolean;
          causes: { queue: { status: string; runner: string; oldestDueAgeMs: number } };
        };
        const failure: unknown = await app
          .get(JobsHealthIndicator)
          .check('queue', { maxDueAge: 60_000 })
          .catch((error: unknown) => error);
        expect(failure).toMatchObject({
          isHealthCheckError: true,
          causes: { queue: { status: 'down', runner: 'off' } },
        });
        expect((failure as Failure).causes.queue.oldestDueAgeMs).toBeGreaterThanOrEqual(120_000);
      },
    );
  });
});
