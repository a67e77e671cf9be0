import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { TestingModule } from '@nestjs/testing';
import type { DataSource } from 'typeorm';
import {
  InvalidJobsOptionError,
  JobEntity,
  JobKind,
  JobsService,
  UnknownJobKindError,
  type JobContext,
} from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase, startApp, waitFor, withApp } from './support/fixtures.js';

/** Runs of every instance in this process, with the data each got, and how many overlapped. */
const runs: Array<{ data: unknown; start: number; end: number }> = [];
let inFlight = 0;
let maxInFlight = 0;

@Injectable()
class Digests {
  @JobKind('digest.send')
  async send(job: JobContext<{ userId: number }>) {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const start = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 30));
    inFlight--;
    runs.push({ data: job.data, start, end: Date.now() });
  }
}

/** A kind that declares a yearly schedule of its own, and also serves runtime schedules. */
@Injectable()
class Reports {
  calls: unknown[] = [];
  @JobKind('report', { cron: '0 0 1 1 *' })
  report(job: JobContext) {
    this.calls.push(job.data);
  }
}

/** A handler that runs until the test opens its gate. */
@Injectable()
class Gated {
  static entered: () => void = () => undefined;
  static gate: Promise<void> = Promise.resolve();
  @JobKind('export.gated')
  async export() {
    Gated.entered();
    await Gated.gate;
    return 'exported';
  }
}

afterAll(closeCleaners);
beforeEach(() => {
  runs.length = 0;
  maxInFlight = 0;
});

const PARIS_8AM = { cron: '0 8 * * *', timezone: 'Europe/Paris' };

describeBackends('runtime schedules', (backend) => {
  it('creates a schedule with its own data, updates it in place by key, and runs it with that data', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Digests], jobs: { runner: false } }, async (app) => {
      const jobs = app.get(JobsService);
      const created = await jobs.schedule(
        'digest:user:42',
        'digest.send',
        { userId: 42 },
        PARIS_8AM,
      );
      expect(created).toMatchObject({
        key: 'digest:user:42',
        declared: false,
        kind: 'digest.send',
        cron: '0 8 * * *',
        timezone: 'Europe/Paris',
        data: { userId: 42 },
        paused: false,
      });
      expect(parisTime(created.nextRunAt!)).toBe('08:00');

      const updated = await jobs.schedule(
        'digest:user:42',
        'digest.send',
        { userId: 43 },
        {
          every: '1h',
          priority: 3,
        },
      );
      expect(updated).toMatchObject({ id: created.id, every: 3_600_000, cron: null, priority: 3 });
      expect(await jobs.list({ kind: 'digest.send' })).toHaveLength(1);
      expect(await jobs.schedules({ kind: 'digest.send' })).toEqual([
        expect.objectContaining({ key: 'digest:user:42', data: { userId: 43 } }),
      ]);

      // Due now: one run, with the updated data, and the row is pending again for the next hour.
      await setRunAt(app, created.id, Date.now() - 1);
      expect(await jobs.runPending()).toMatchObject({ ran: 1, succeeded: 1 });
      expect(runs.map((run) => run.data)).toEqual([{ userId: 43 }]);
      const [after] = await jobs.schedules();
      expect(after.lastOutcome).toBe('succeeded');
      expect(after.nextRunAt!.getTime()).toBeGreaterThan(Date.now() + 3_000_000);
    });
  });

  it('runs every 200 ms with its data, by the background runner', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Digests], jobs: { pollInterval: 20 } }, async (app) => {
      await app
        .get(JobsService)
        .schedule('digest:fast', 'digest.send', { userId: 7 }, { every: 200 });
      await waitFor(() => runs.length >= 2, 'two runs');
      expect(runs.slice(0, 2).map((run) => run.data)).toEqual([{ userId: 7 }, { userId: 7 }]);
    });
  });

  it('runs each occurrence once across two instances on one database, from one row', async () => {
    const database = await freshDatabase(backend);
    const apps = await Promise.all(
      [0, 1].map(() => startApp({ database, providers: [Digests], jobs: { pollInterval: 20 } })),
    );
    const started = Date.now();
    try {
      // Both instances declare the same schedule at once: one row.
      const [a, b] = await Promise.all(
        apps.map((app) =>
          app
            .get(JobsService)
            .schedule('digest:both', 'digest.send', { userId: 1 }, { every: 300 }),
        ),
      );
      expect(a.id).toBe(b.id);
      await waitFor(() => runs.length >= 4, 'four runs', 20_000);
      const elapsed = Date.now() - started;
      // One run per occurrence (plus the one running now), not one per instance.
      expect(runs.length).toBeLessThanOrEqual(Math.floor(elapsed / 300) + 1);
      expect(maxInFlight).toBe(1);
      expect(await apps[0].get(JobsService).list({ kind: 'digest.send' })).toHaveLength(1);
    } finally {
      await Promise.all(apps.map((app) => app.close()));
    }
  });

  it('stops when unscheduled (not cancelled), and says whether there was one', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Digests], jobs: { runner: false } }, async (app) => {
      const jobs = app.get(JobsService);
      const schedule = await jobs.schedule(
        'digest:gone',
        'digest.send',
        { userId: 5 },
        { every: '1m' },
      );
      await setRunAt(app, schedule.id, Date.now() - 1);
      // Cancel is not the way: it says which is.
      await expect(jobs.cancel(schedule.id)).rejects.toThrow(
        expect.objectContaining({
          name: 'ScheduleNotCancellableError',
          message: expect.stringContaining("unschedule('digest:gone')"),
        }),
      );
      expect(await jobs.unschedule('digest:gone')).toBe(true);
      expect(await jobs.unschedule('digest:gone')).toBe(false);
      expect(await jobs.runPending()).toMatchObject({ ran: 0 });
      expect(await jobs.schedules()).toEqual([]);
      expect(await jobs.get(schedule.id)).toBeNull();
    });
  });

  it('survives a restart, untouched by the startup sync of declared schedules', async () => {
    const database = await freshDatabase(backend);
    const first = await startApp({ database, providers: [Digests], jobs: { runner: false } });
    const made = await first
      .get(JobsService)
      .schedule('digest:user:9', 'digest.send', { userId: 9 }, PARIS_8AM);
    await first.close();

    // digest.send declares no schedule here: the sync cancels declared rows of such kinds, not this one.
    const again = await startApp({ database, providers: [Digests], jobs: { runner: false } });
    try {
      const jobs = again.get(JobsService);
      expect(await jobs.schedules()).toEqual([
        expect.objectContaining({ id: made.id, key: 'digest:user:9', status: 'pending' }),
      ]);
      await setRunAt(again, made.id, Date.now() - 1);
      expect(await jobs.runPending()).toMatchObject({ ran: 1, succeeded: 1 });
      expect(runs.map((run) => run.data)).toEqual([{ userId: 9 }]);
      const [row] = await jobs.schedules();
      expect(parisTime(row.nextRunAt!)).toBe('08:00');
    } finally {
      await again.close();
    }
  });

  it("runs on its own spec, not the one its kind declares, and leaves the kind's schedule alone", async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Reports], jobs: { pollInterval: 20 } }, async (app) => {
      const jobs = app.get(JobsService);
      await jobs.schedule('report:team:1', 'report', { team: 1 }, { every: 200 });
      // On the kind's yearly spec, the row would be due next January after its first run.
      await waitFor(() => app.get(Reports).calls.length >= 2, 'two runs of the runtime schedule');
      expect(app.get(Reports).calls.slice(0, 2)).toEqual([{ team: 1 }, { team: 1 }]);
      const schedules = await jobs.schedules({ kind: 'report' });
      expect(schedules.map((s) => [s.key, s.declared, s.cron, s.every])).toEqual([
        ['report', true, '0 0 1 1 *', null],
        ['report:team:1', false, null, 200],
      ]);
    });
  });

  it('pauses and resumes by key: paused, it is not claimed, even after a restart', async () => {
    const database = await freshDatabase(backend);
    const first = await startApp({ database, providers: [Digests], jobs: { runner: false } });
    const made = await first
      .get(JobsService)
      .schedule('digest:user:3', 'digest.send', { userId: 3 }, { every: '1m' });
    expect(await first.get(JobsService).pauseSchedule('digest:user:3')).toBe(true);
    expect(await first.get(JobsService).pauseSchedule('digest:user:3')).toBe(false);
    await setRunAt(first, made.id, Date.now() - 1);
    await first.close();

    const again = await startApp({ database, providers: [Digests], jobs: { runner: false } });
    try {
      const jobs = again.get(JobsService);
      expect(await jobs.runPending()).toMatchObject({ ran: 0 });
      expect(await jobs.schedules()).toEqual([
        expect.objectContaining({ key: 'digest:user:3', paused: true, nextRunAt: null }),
      ]);
      // Updating a paused schedule keeps it paused.
      await jobs.schedule('digest:user:3', 'digest.send', { userId: 4 }, { every: '2m' });
      expect((await jobs.get(made.id))!.status).toBe('paused');

      expect(await jobs.resumeSchedule('digest:user:3')).toBe(true);
      const [resumed] = await jobs.schedules();
      expect(resumed).toMatchObject({ paused: false, status: 'pending', every: 120_000 });
      await setRunAt(again, made.id, Date.now() - 1);
      expect(await jobs.runPending()).toMatchObject({ ran: 1 });
      expect(runs.map((run) => run.data)).toEqual([{ userId: 4 }]);
    } finally {
      await again.close();
    }
  });

  it('stays paused when paused during a run: the run finishes, its outcome is discarded', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Gated], jobs: { runner: false } }, async (app) => {
      const jobs = app.get(JobsService);
      const made = await jobs.schedule('export:1', 'export.gated', null, { every: '1h' });
      await setRunAt(app, made.id, Date.now() - 1);
      let open: () => void = () => undefined;
      Gated.gate = new Promise((resolve) => (open = resolve));
      const entered = new Promise<void>((resolve) => (Gated.entered = resolve));
      const running = jobs.runPending();
      await entered;
      expect(await jobs.pauseSchedule('export:1')).toBe(true);
      open();
      await running;
      expect(await jobs.get(made.id)).toMatchObject({ status: 'paused', lockedBy: null });
      expect(await jobs.resumeSchedule('export:1')).toBe(true);
      expect((await jobs.get(made.id))!.runAt.getTime()).toBeGreaterThan(Date.now());
    });
  });

  it('refuses bad input with typed errors, having written nothing', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Digests], jobs: { runner: false } }, async (app) => {
      const jobs = app.get(JobsService);
      const bad: Array<[string, () => Promise<unknown>, new (...args: never[]) => Error, RegExp]> =
        [
          [
            'invalid cron',
            () => jobs.schedule('k', 'digest.send', {}, { cron: '61 * * * *' }),
            InvalidJobsOptionError,
            /cron of schedule "k"/,
          ],
          [
            'invalid time zone',
            () =>
              jobs.schedule(
                'k',
                'digest.send',
                {},
                { cron: '0 8 * * *', timezone: 'Mars/Olympus' },
              ),
            InvalidJobsOptionError,
            /timezone of schedule "k"/,
          ],
          [
            'cron and every',
            () => jobs.schedule('k', 'digest.send', {}, { cron: '* * * * *', every: '1m' }),
            InvalidJobsOptionError,
            /either cron or every/,
          ],
          [
            'neither cron nor every',
            () => jobs.schedule('k', 'digest.send', {}, {}),
            InvalidJobsOptionError,
            /cron of schedule "k"/,
          ],
          [
            'every of zero',
            () => jobs.schedule('k', 'digest.send', {}, { every: 0 }),
            InvalidJobsOptionError,
            /every of schedule "k"/,
          ],
          [
            'timezone with every',
            () => jobs.schedule('k', 'digest.send', {}, { every: '1m', timezone: 'UTC' }),
            InvalidJobsOptionError,
            /timezone of schedule "k"/,
          ],
          [
            'unknown missed policy',
            () => jobs.schedule('k', 'digest.send', {}, { every: '1m', missed: 'never' as 'skip' }),
            InvalidJobsOptionError,
            /missed of schedule "k"/,
          ],
          [
            'misspelt option',
            () => jobs.schedule('k', 'digest.send', {}, { every: '1m', priorty: 1 } as never),
            InvalidJobsOptionError,
            /priorty/,
          ],
          [
            'empty key',
            () => jobs.schedule('', 'digest.send', {}, { every: '1m' }),
            InvalidJobsOptionError,
            /key of schedule\(\)/,
          ],
          [
            'key too long',
            () => jobs.schedule('k'.repeat(201), 'digest.send', {}, { every: '1m' }),
            InvalidJobsOptionError,
            /key of schedule\(\)/,
          ],
          [
            'bad queue',
            () => jobs.schedule('k', 'digest.send', {}, { every: '1m', queue: '' }),
            InvalidJobsOptionError,
            /queue/,
          ],
          [
            'unknown kind',
            () => jobs.schedule('k', 'digest.sned', {}, { every: '1m' }),
            UnknownJobKindError,
            /digest\.sned/,
          ],
          [
            'negative cursor of schedules()',
            () => jobs.schedules({ after: -1 }),
            InvalidJobsOptionError,
            /"after"/,
          ],
          [
            'misspelt filter of schedules()',
            () => jobs.schedules({ limt: 5 } as never),
            InvalidJobsOptionError,
            /limt/,
          ],
        ];
      for (const [what, call, type, message] of bad) {
        const error = await call().then(
          () => new Error(`${what}: accepted`),
          (thrown: Error) => thrown,
        );
        expect([what, error]).toEqual([what, expect.any(type)]);
        expect([what, error.message]).toEqual([what, expect.stringMatching(message)]);
      }
      expect(await jobs.list()).toEqual([]);
    });
  });
});

function parisTime(at: Date): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Paris',
    hour: '2-digit',
    minute: '2-digit',
  }).format(at);
}

async function setRunAt(app: TestingModule, id: number, at: number) {
  await app
    .get<DataSource>(getDataSourceToken())
    .getRepository(JobEntity)
    .update(id, { runAt: new Date(at) });
}
