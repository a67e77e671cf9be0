import { Injectable } from '@nestjs/common';
import { JobKind, JobsService, type JobContext } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase, startApp, waitForStatus } from './support/fixtures.js';

@Injectable()
class Echo {
  @JobKind('echo')
  run(job: JobContext<{ text: string }>) {
    job.log('hello');
    return job.data.text;
  }
}

afterAll(closeCleaners);

describeBackends('smoke', (backend) => {
  it('runs a job', async () => {
    const app = await startApp({ database: await freshDatabase(backend), providers: [Echo] });
    try {
      const jobs = app.get(JobsService);
      const job = await jobs.enqueue('echo', { text: 'done' });
      const finished = await waitForStatus(app, job.id, 'succeeded');
      expect(finished.logs).toContain('done');
      expect(finished.result).toBe('done');
    } finally {
      await app.close();
    }
  });
});
