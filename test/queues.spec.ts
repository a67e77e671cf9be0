import { Injectable } from '@nestjs/common';
import { InvalidJobsOptionError, JobKind, JobsService, type JobContext } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import {
  closeCleaners,
  freshDatabase,
  startApp,
  waitFor,
  waitForStatus,
  withApp,
} from './support/fixtures.js';

@Injectable()
class Mail {
  readonly ran: number[] = [];
  private releases = new Map<number, () => void>();
  readonly started = new Set<number>();

  release(id: number) {
    this.releases.get(id)?.();
  }

  @JobKind('mail.send', { queue: 'mail' })
  send(job: JobContext) {
    this.ran.push(job.id);
  }

  @JobKind('mail.slow', { queue: 'mail' })
  slow(job: JobContext) {
    this.started.add(job.id);
    return new Promise<string>((resolve) => this.releases.set(job.id, () => resolve('finished')));
  }

  @JobKind('report.build', { queue: 'reports' })
  build(job: JobContext) {
    this.ran.push(job.id);
  }
}

afterAll(closeCleaners);

describeBackends('paused queues', (backend) => {
  it('starts no job of a paused queue, on any instance, while other queues run; resume runs them', async () => {
    const database = await freshDatabase(backend);
    const apps = await Promise.all([0, 1].map(() => startApp({ database, providers: [Mail] })));
    try {
      const jobs = apps[0].get(JobsService);
      expect(await jobs.pauseQueue('mail')).toBe(true);
      expect(await jobs.pauseQueue('mail')).toBe(false);
      // Enqueueing works while paused, from any instance.
      const held = await apps[1].get(JobsService).enqueue('mail.send', {});
      const other = await jobs.enqueue('report.build', {});
      await waitForStatus(apps[0], other.id, 'succeeded');
      // Both instances have claimed since (the report ran on one of them; let both poll again).
      const second = await apps[1].get(JobsService).enqueue('report.build', {});
      await waitForStatus(apps[0], second.id, 'succeeded');
      expect((await jobs.get(held.id))!.status).toBe('pending');
      expect(apps.every((app) => !app.get(Mail).ran.includes(held.id))).toBe(true);

      expect(await apps[1].get(JobsService).resumeQueue('mail')).toBe(true);
      expect(await jobs.resumeQueue('mail')).toBe(false);
      const done = await waitForStatus(apps[0], held.id, 'succeeded');
      expect(done.attempts).toBe(1);
    } finally {
      await Promise.all(apps.map((app) => app.close()));
    }
  });

  it('lets running jobs of a queue finish when it is paused', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Mail] }, async (app) => {
      const jobs = app.get(JobsService);
      const mail = app.get(Mail);
      const running = await jobs.enqueue('mail.slow', {});
      await waitFor(() => mail.started.has(running.id), 'the run to start');
      await jobs.pauseQueue('mail');
      const next = await jobs.enqueue('mail.send', {});
      mail.release(running.id);
      const done = await waitForStatus(app, running.id, 'succeeded');
      expect(done.result).toBe('finished');
      const report = await jobs.enqueue('report.build', {});
      await waitForStatus(app, report.id, 'succeeded');
      expect((await jobs.get(next.id))!.status).toBe('pending');
    });
  });

  it('keeps a pause across restarts', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Mail] }, async (app) => {
      await app.get(JobsService).pauseQueue('mail');
    });
    await withApp({ database, providers: [Mail] }, async (app) => {
      const jobs = app.get(JobsService);
      const held = await jobs.enqueue('mail.send', {});
      const report = await jobs.enqueue('report.build', {});
      await waitForStatus(app, report.id, 'succeeded');
      expect((await jobs.get(held.id))!.status).toBe('pending');
      expect((await jobs.queues()).find((queue) => queue.name === 'mail')).toMatchObject({
        paused: true,
        counts: { pending: 1, running: 0, succeeded: 0 },
      });
      await jobs.resumeQueue('mail');
      await waitForStatus(app, held.id, 'succeeded');
    });
  });

  it('lists every queue with jobs or a state, with its counts', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Mail], jobs: { runner: false } }, async (app) => {
      const jobs = app.get(JobsService);
      await jobs.enqueue('mail.send', {});
      await jobs.enqueue('mail.send', {}, { delay: 60_000 });
      await jobs.enqueue('report.build', {});
      await jobs.pauseQueue('empty-but-paused');
      const queues = await jobs.queues();
      expect(queues.map((queue) => queue.name)).toEqual(['empty-but-paused', 'mail', 'reports']);
      expect(queues[0]).toMatchObject({ paused: true, counts: { pending: 0 } });
      expect(queues[1]).toMatchObject({ paused: false, counts: { pending: 2, succeeded: 0 } });
      expect(queues[2]).toMatchObject({ paused: false, counts: { pending: 1 } });
    });
  });

  it('refuses a bad queue name with a typed error, having written nothing', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Mail], jobs: { runner: false } }, async (app) => {
      const jobs = app.get(JobsService);
      for (const name of ['', 'x'.repeat(101), 42, null, 'a\u0000b']) {
        await expect(jobs.pauseQueue(name as string)).rejects.toBeInstanceOf(
          InvalidJobsOptionError,
        );
      }
      await expect(jobs.resumeQueue('')).rejects.toBeInstanceOf(InvalidJobsOptionError);
      expect(await jobs.queues()).toEqual([]);
    });
  });
});
