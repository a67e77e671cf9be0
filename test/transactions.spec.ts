import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { JobEntity, JobKind, JobsService, type JobContext } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import {
  closeCleaners,
  freshDatabase,
  startApp,
  waitForStatus,
  withApp,
} from './support/fixtures.js';

@Injectable()
class Mailer {
  readonly sent: number[] = [];
  @JobKind('mail.welcome')
  welcome(job: JobContext<{ user: string }>) {
    this.sent.push(job.id);
  }
}

afterAll(closeCleaners);

describeBackends('enqueue inside a transaction', (backend) => {
  const setup = async (runner: boolean) => {
    const app = await startApp({
      database: await freshDatabase(backend),
      providers: [Mailer],
      jobs: { runner },
    });
    const source = app.get<DataSource>(getDataSourceToken());
    await source.query('DROP TABLE IF EXISTS tx_users');
    await source.query('CREATE TABLE tx_users (name VARCHAR(50) PRIMARY KEY)');
    return { app, source, jobs: app.get(JobsService) };
  };

  it('makes the job visible, and run, only after the transaction commits', async () => {
    const { app, source, jobs } = await setup(true);
    try {
      let id = 0;
      await source.transaction(async (manager) => {
        await manager.query(
          'INSERT INTO tx_users (name) VALUES (?)'.replace(
            '?',
            backend.name === 'postgres' ? '$1' : '?',
          ),
          ['ada'],
        );
        id = (await jobs.enqueue('mail.welcome', { user: 'ada' }, { manager })).id;
        expect(await manager.getRepository(JobEntity).findOneBy({ id })).not.toBeNull();
        if (backend.name === 'sqlite') {
          // One connection per data source: reads see the open transaction, but the runner waits for it to end.
          await new Promise((resolve) => setTimeout(resolve, 300));
          expect(app.get(Mailer).sent).toEqual([]);
        } else {
          // Outside the transaction the job does not exist yet: no runner can claim it.
          expect(await jobs.get(id)).toBeNull();
        }
      });
      await waitForStatus(app, id, 'succeeded');
      expect(app.get(Mailer).sent).toEqual([id]);
    } finally {
      await app.close();
    }
  });

  it('starts a job enqueued in a transaction as soon as it commits, without waiting for a poll', async () => {
    const database = await freshDatabase(backend);
    await withApp(
      { database, providers: [Mailer], jobs: { pollInterval: 60_000 } },
      async (app) => {
        const source = app.get<DataSource>(getDataSourceToken());
        const jobs = app.get(JobsService);
        // The first poll (at startup) has found nothing; the next is a minute away.
        await new Promise((resolve) => setTimeout(resolve, 100));
        const job = await source.transaction((manager) =>
          jobs.enqueue('mail.welcome', { user: 'kim' }, { manager }),
        );
        await waitForStatus(app, job.id, 'succeeded');
      },
    );
  });

  it('leaves no job behind when the transaction rolls back, unique ones included', async () => {
    const { app, source, jobs } = await setup(false);
    try {
      await expect(
        source.transaction(async (manager) => {
          await jobs.enqueue('mail.welcome', { user: 'bob' }, { manager, unique: true });
          await jobs.enqueueMany(
            [
              { kind: 'mail.welcome', data: { user: 'c' } },
              { kind: 'mail.welcome', data: { user: 'd' }, unique: true },
            ],
            { manager },
          );
          throw new Error('signup failed');
        }),
      ).rejects.toThrow('signup failed');
      expect(await source.getRepository(JobEntity).count()).toBe(0);
      // The unique key was never taken: the same unique job can be enqueued now.
      const again = await jobs.enqueue('mail.welcome', { user: 'bob' }, { unique: true });
      expect(await jobs.get(again.id)).not.toBeNull();
    } finally {
      await app.close();
    }
  });

  it('dedupes a unique job against one already committed, inside the transaction', async () => {
    const { app, source, jobs } = await setup(false);
    try {
      const committed = await jobs.enqueue('mail.welcome', { user: 'eve' }, { unique: true });
      await source.transaction(async (manager) => {
        const inside = await jobs.enqueue(
          'mail.welcome',
          { user: 'eve' },
          { manager, unique: true },
        );
        expect(inside.id).toBe(committed.id);
      });
      expect(await source.getRepository(JobEntity).count()).toBe(1);
    } finally {
      await app.close();
    }
  });
});
