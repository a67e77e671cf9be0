import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { InvalidJobsOptionError, JobEntity, JobKind, JobsService } from 'nestjs-typeorm-jobs';
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
class Work {
  @JobKind('ok')
  ok() {
    return undefined;
  }

  @JobKind('bad', { maxAttempts: 1 })
  bad() {
    throw new Error('bad');
  }

  @JobKind('tick', { every: '1h' })
  tick() {
    return undefined;
  }
}

afterAll(closeCleaners);

describeBackends('retention', (backend) => {
  it('deletes finished jobs past their retention per status, keeps the rest and the schedules', async () => {
    const database = await freshDatabase(backend);
    const maker = await startApp({ database, providers: [Work], jobs: { runner: false } });
    const jobs = maker.get(JobsService);
    const oldOk = await jobs.enqueue('ok', {});
    const newOk = await jobs.enqueue('ok', {});
    const oldBad = await jobs.enqueue('bad', {});
    const oldCancelled = await jobs.enqueue('ok', {}, { delay: 60_000 });
    const pending = await jobs.enqueue('ok', {}, { delay: 60_000 });
    await jobs.runPending();
    await jobs.cancel(oldCancelled.id);
    const [schedule] = await jobs.list({ kind: 'tick' });
    const rows = maker.get<DataSource>(getDataSourceToken()).getRepository(JobEntity);
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    for (const id of [oldOk.id, oldBad.id, oldCancelled.id])
      await rows.update(id, { finishedAt: twoDaysAgo });
    await rows.update(schedule.id, { status: 'cancelled', active: false, finishedAt: twoDaysAgo });
    await maker.close();

    // succeeded: 1 day (default), failed: kept for ever, cancelled: 1 day.
    const pruner = await startApp({
      database,
      providers: [],
      jobs: { lease: 1_000, retention: { failed: false, cancelled: '1d' } },
    });
    try {
      const service = pruner.get(JobsService);
      await waitFor(
        async () =>
          (await service.get(oldOk.id)) === null && (await service.get(oldCancelled.id)) === null,
        'the prune',
      );
      expect(await service.get(newOk.id)).not.toBeNull();
      expect(await service.get(oldBad.id)).not.toBeNull();
      expect(await service.get(pending.id)).not.toBeNull();
      expect(await service.get(schedule.id)).not.toBeNull();
      await waitForStatus(pruner, newOk.id, 'succeeded');
    } finally {
      await pruner.close();
    }
  });

  it('rejects a bad retention at startup, naming it', async () => {
    const database = await freshDatabase(backend);
    await expect(
      startApp({ database, jobs: { retention: { succeded: '1d' } as never } }),
    ).rejects.toThrow(/"retention\.succeded"/);
    await expect(startApp({ database, jobs: { retention: { failed: '1 week' } } })).rejects.toThrow(
      InvalidJobsOptionError,
    );
    // Only a success can be dropped at once: a failure or a cancellation is kept to be looked at.
    await expect(startApp({ database, jobs: { retention: { failed: 0 } } })).rejects.toThrow(
      /"retention\.failed"/,
    );
  });

  it('with succeeded: 0, deletes a job the moment it succeeds and keeps failures and schedules', async () => {
    const database = await freshDatabase(backend);
    await withApp(
      {
        database,
        providers: [Work],
        jobs: { retention: { succeeded: 0 } },
      },
      async (app) => {
        const jobs = app.get(JobsService);
        const made = await jobs.enqueueMany(
          Array.from({ length: 50 }, (_, n) => ({ kind: 'ok', data: { n } })),
        );
        const bad = await jobs.enqueue('bad', {});
        const unique = await jobs.enqueue('ok', { n: 'unique' }, { unique: true });
        await waitForStatus(app, bad.id, 'failed');
        await waitFor(async () => {
          for (const job of [...made, unique]) if ((await jobs.get(job.id)) !== null) return false;
          return true;
        }, 'the succeeded jobs to be deleted');
        // The unique key is free again with its job gone.
        const again = await jobs.enqueue('ok', { n: 'unique' }, { unique: true });
        expect(again.id).not.toBe(unique.id);
        const [schedule] = await jobs.list({ kind: 'tick' });
        expect(schedule).toMatchObject({ status: 'pending', periodic: true });
      },
    );
  });
});
