import { Injectable } from '@nestjs/common';
import { defineJobKind, JobKind, jobSpec, JobsService, type JobContext } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import {
  closeCleaners,
  freshDatabase,
  startApp,
  waitForStatus,
  withApp,
} from './support/fixtures.js';

// The compile-time half of this behaviour is test/types/typed-kinds.typecheck.ts.
const SendDigest = defineJobKind<{ userId: string }>('digest.send');

@Injectable()
class DigestJobs {
  @JobKind(SendDigest, { maxAttempts: 2 })
  send(job: JobContext<{ userId: string }>) {
    return `digest for ${job.data.userId}`;
  }
}

afterAll(closeCleaners);

describeBackends('typed kinds', (backend) => {
  it('registers and enqueues through one declaration, and the string form reaches the same kind', async () => {
    await withApp(
      { database: await freshDatabase(backend), providers: [DigestJobs] },
      async (app) => {
        const jobs = app.get(JobsService);
        const typed = await jobs.enqueue(SendDigest, { userId: 'u1' });
        const [many] = await jobs.enqueueMany([jobSpec(SendDigest, { userId: 'u2' })]);
        const named = await jobs.enqueue('digest.send', { userId: 'u3' });
        expect(typed).toMatchObject({ kind: 'digest.send', maxAttempts: 2 });
        expect((await waitForStatus(app, typed.id, 'succeeded')).result).toBe('digest for u1');
        expect((await waitForStatus(app, many.id, 'succeeded')).result).toBe('digest for u2');
        expect((await waitForStatus(app, named.id, 'succeeded')).result).toBe('digest for u3');
      },
    );
  });
});
