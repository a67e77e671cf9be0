import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { JobKind, JobKindEntity, JobsHealthIndicator, JobsService } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import { DashboardClient, startDashboardApp } from './support/browser.js';
import {
  closeCleaners,
  freshDatabase,
  startApp,
  waitForStatus,
  withApp,
} from './support/fixtures.js';

/**
 * A kind no running instance handles (its handler removed from the code, or its worker not
 * deployed yet) shows as such: JobsService.kinds() and unhandledKinds(), and the health details.
 */

@Injectable()
class OldWorker {
  @JobKind('report.legacy')
  legacy() {
    return 'done';
  }
}

@Injectable()
class NewWorker {
  @JobKind('report.current')
  current() {
    return undefined;
  }
}

afterAll(closeCleaners);

describeBackends('kinds no running instance handles', (backend) => {
  it('a kind whose handler left the code: its pending jobs are listed as unhandled, in the health details too', async () => {
    const database = await freshDatabase(backend);
    const old = await startApp({ database, providers: [OldWorker] });
    try {
      const [legacy] = await old.get(JobsService).kinds();
      expect(legacy).toMatchObject({ name: 'report.legacy', handled: true, resolves: true });
      expect(legacy.handledAt).toBeInstanceOf(Date);
    } finally {
      await old.close();
    }
    // The deploy without the handler: the old instance's last word is now older than the stale bound.
    await withApp({ database, providers: [NewWorker] }, async (app) => {
      const source = app.get<DataSource>(getDataSourceToken());
      await source
        .getRepository(JobKindEntity)
        .update({ name: 'report.legacy' }, { handledAt: new Date(Date.now() - 10 * 60_000) });
      const jobs = app.get(JobsService);
      await jobs.enqueue('report.legacy', { month: 11 });
      await jobs.enqueue('report.legacy', { month: 12 });
      const current = await jobs.enqueue('report.current', null);
      await waitForStatus(app, current.id, 'succeeded');

      expect(await jobs.unhandledKinds()).toEqual([
        { kind: 'report.legacy', pending: 2, handledAt: expect.any(Date) },
      ]);
      const kinds = await jobs.kinds();
      expect(kinds.find((kind) => kind.name === 'report.legacy')).toMatchObject({ handled: false });
      expect(kinds.find((kind) => kind.name === 'report.current')).toMatchObject({ handled: true });
      const health = await app.get(JobsHealthIndicator).check('jobs');
      expect(health.jobs.unhandledKinds).toEqual([{ kind: 'report.legacy', pending: 2 }]);
    });
  });

  it('the dashboard marks the kind and its pending jobs "no handler"', async () => {
    const database = await freshDatabase(backend);
    const dashboard = await startDashboardApp({ database, providers: [NewWorker] });
    try {
      const source = dashboard.app.get<DataSource>(getDataSourceToken());
      await source.getRepository(JobKindEntity).insert({
        name: 'report.legacy',
        created: new Date(),
        modified: new Date(),
        handledAt: new Date(Date.now() - 10 * 60_000),
      });
      const waiting = await dashboard.jobs.enqueue('report.legacy', { month: 1 });
      const client = new DashboardClient(dashboard.origin);
      const kinds = (await client.get('/jobs/kinds')).text;
      const legacyRow = kinds.slice(kinds.indexOf('report.legacy'));
      expect(legacyRow.slice(0, legacyRow.indexOf('</tr>'))).toContain('no handler');
      const currentRow = kinds.slice(kinds.indexOf('report.current'));
      expect(currentRow.slice(0, currentRow.indexOf('</tr>'))).not.toContain('no handler');
      expect((await client.get(`/jobs/jobs/${waiting.id}`)).text).toContain('no handler');
      const row = (await client.get('/jobs')).text;
      const jobRow = row.slice(row.indexOf(`data-job="${waiting.id}"`));
      expect(jobRow.slice(0, jobRow.indexOf('</tr>'))).toContain('no handler');
    } finally {
      await dashboard.close();
    }
  });

  it('a kind a producer enqueues before any worker ran is unhandled until a worker starts', async () => {
    const database = await freshDatabase(backend);
    const web = await startApp({ database, jobs: { runner: false, kinds: ['report.current'] } });
    try {
      const jobs = web.get(JobsService);
      const job = await jobs.enqueue('report.current', null);
      expect(await jobs.unhandledKinds()).toEqual([
        { kind: 'report.current', pending: 1, handledAt: null },
      ]);
      const worker = await startApp({ database, providers: [NewWorker] });
      try {
        await waitForStatus(worker, job.id, 'succeeded');
        expect(await jobs.unhandledKinds()).toEqual([]);
      } finally {
        await worker.close();
      }
    } finally {
      await web.close();
    }
  });
});
