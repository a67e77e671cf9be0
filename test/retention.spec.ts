import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { InvalidJobsOptionError, JobEntity, JobKind, JobsService } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase, startApp, waitFor, waitForStatus } from './support/fixtures.js';

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
    for (const id of [oldOk.id, oldBad.id, oldCancelled.id]) await rows.update(id, { finishedAt: twoDaysAgo });
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
      await waitFor(async () => (await service.get(oldOk.id)) === null && (await service.get(oldCancelled.id)) === null, 'the prune');
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
    await expect(startApp({ database, jobs: { retention: { succeded: '1d' } as never } })).rejects.toThrow(/"retention\.succeded"/);
    await expect(startApp({ database, jobs: { retention: { failed: '1 week' } } })).rejects.toThrow(InvalidJobsOptionError);
  });
});
