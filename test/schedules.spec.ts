import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import {
  InvalidJobsOptionError,
  JobEntity,
  JobKind,
  JobsService,
  ScheduleNotCancellableError,
  ScheduleNotFoundError,
  type JobContext,
} from 'nestjs-typeorm-jobs';
import { nextOccurrence, parseEvery, scheduleOf } from '../lib/schedules/schedule.js';
import { describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase, startApp, waitFor, withApp } from './support/fixtures.js';

/** Runs of the 1-second schedule across every instance in this process, and how many overlapped. */
const ticks: Array<{ start: number; end: number }> = [];
let inFlight = 0;
let maxInFlight = 0;

@Injectable()
class EverySecond {
  @JobKind('tick', { every: '1s' })
  async tick() {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const start = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 50));
    inFlight--;
    ticks.push({ start, end: Date.now() });
  }
}

@Injectable()
class HourlyDigest {
  runs = 0;
  @JobKind('digest', { cron: '0 * * * *', timezone: 'Europe/Paris' })
  digest(job: JobContext) {
    this.runs++;
    return `digest ${job.data === null ? 'without data' : 'with data'}`;
  }
}

@Injectable()
class HourlyDigestSkipping {
  runs = 0;
  @JobKind('digest', { cron: '0 * * * *', timezone: 'Europe/Paris', missed: 'skip' })
  digest() {
    this.runs++;
  }
}

@Injectable()
class DailyDigest {
  @JobKind('digest', { cron: '0 8 * * *', timezone: 'Europe/Paris' })
  digest() {
    return undefined;
  }
}

@Injectable()
class UnscheduledDigest {
  @JobKind('digest')
  digest() {
    return undefined;
  }
}

@Injectable()
class Polled {
  runs = 0;
  @JobKind('feeds.poll')
  poll() {
    this.runs++;
  }
}

afterAll(closeCleaners);

describe('schedule arithmetic', () => {
  it('reads durations in ms or with units', () => {
    expect(parseEvery('every', 900_000)).toBe(900_000);
    expect(parseEvery('every', '15m')).toBe(900_000);
    expect(parseEvery('every', '1h30m')).toBe(5_400_000);
    expect(parseEvery('every', '1d')).toBe(86_400_000);
    expect(() => parseEvery('every', '15 minutes')).toThrow(InvalidJobsOptionError);
    expect(() => parseEvery('every', 0)).toThrow(/"every"/);
  });

  it('fails with the kind named on an invalid cron expression or time zone', () => {
    expect(() => scheduleOf('digest.send', { cron: '61 * * * *' })).toThrow(
      /cron of job kind "digest\.send"/,
    );
    expect(() =>
      scheduleOf('digest.send', { cron: '0 8 * * *', timezone: 'Mars/Olympus' }),
    ).toThrow(/timezone of job kind "digest\.send"/);
    expect(() => scheduleOf('x', { cron: '* * * * *', every: '1m' })).toThrow(
      /either cron or every/,
    );
  });

  it('runs a daily Paris job at 08:00 local time on both sides of the DST changes', () => {
    const spec = scheduleOf('d', { cron: '0 8 * * *', timezone: 'Europe/Paris' })!;
    // Winter: UTC+1; summer (from 29 March 2026): UTC+2; winter again from 25 October 2026.
    expect(new Date(nextOccurrence(spec, Date.parse('2026-03-28T12:00:00Z'))).toISOString()).toBe(
      '2026-03-29T06:00:00.000Z',
    );
    expect(new Date(nextOccurrence(spec, Date.parse('2026-03-27T12:00:00Z'))).toISOString()).toBe(
      '2026-03-28T07:00:00.000Z',
    );
    expect(new Date(nextOccurrence(spec, Date.parse('2026-10-24T12:00:00Z'))).toISOString()).toBe(
      '2026-10-25T07:00:00.000Z',
    );
  });

  it('runs a time that the spring-forward skips once, just after the gap, and not twice in the autumn', () => {
    const spec = scheduleOf('n', { cron: '30 2 * * *', timezone: 'Europe/Paris' })!;
    // 02:30 does not exist on 29 March 2026 in Paris: it runs at 03:00 local (01:00Z), once.
    const spring = nextOccurrence(spec, Date.parse('2026-03-28T12:00:00Z'));
    expect(new Date(spring).toISOString()).toBe('2026-03-29T01:00:00.000Z');
    expect(new Date(nextOccurrence(spec, spring)).toISOString()).toBe('2026-03-30T00:30:00.000Z');
    // 02:30 happens twice on 25 October 2026: the job runs once that day.
    const autumn = nextOccurrence(spec, Date.parse('2026-10-24T12:00:00Z'));
    const after = nextOccurrence(spec, autumn);
    expect(after - autumn).toBeGreaterThanOrEqual(23 * 3_600_000);
  });
});

describeBackends('declared schedules', (backend) => {
  const instances = backend.name === 'sqlite' ? 1 : 3;

  it(`runs a 1-second schedule about once a second in total across ${instances} instance(s), never overlapping`, async () => {
    ticks.length = 0;
    maxInFlight = 0;
    const database = await freshDatabase(backend);
    const apps = await Promise.all(
      Array.from({ length: instances }, () =>
        startApp({ database, providers: [EverySecond], jobs: { pollInterval: 100 } }),
      ),
    );
    const started = Date.now();
    try {
      await waitFor(() => ticks.length >= 3, 'three ticks', 15_000);
      const elapsed = Date.now() - started;
      // One tick per second of wall time at most (plus the first), not one per instance.
      expect(ticks.length).toBeLessThanOrEqual(Math.floor(elapsed / 1_000) + 1);
      expect(maxInFlight).toBe(1);
      for (let i = 1; i < ticks.length; i++)
        expect(ticks[i].start).toBeGreaterThanOrEqual(ticks[i - 1].end);
      const rows = await apps[0].get(JobsService).list({ kind: 'tick' });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ periodic: true, interval: 1_000, active: true });
      expect(rows[0].lastRun).toBeInstanceOf(Date);
    } finally {
      await Promise.all(apps.map((app) => app.close()));
    }
  });

  it('after downtime runs a missed schedule once, then goes on from now', async () => {
    const database = await freshDatabase(backend);
    const first = await startApp({ database, providers: [HourlyDigest], jobs: { runner: false } });
    const [row] = await first.get(JobsService).list({ kind: 'digest' });
    expect(row.runAt.getTime()).toBeGreaterThan(Date.now());
    // Five hours "down": the row's occurrence is long past and four more were missed.
    await setRunAt(first, row.id, Date.now() - 5 * 3_600_000);
    await first.close();

    const again = await startApp({ database, providers: [HourlyDigest] });
    try {
      const jobs = again.get(JobsService);
      const ran = await waitFor(async () => {
        const current = (await jobs.get(row.id))!;
        return current.status === 'pending' && current.lastRun ? current : null;
      }, 'the catch-up run');
      expect(again.get(HourlyDigest).runs).toBe(1);
      expect(ran.logs).toContain('digest without data');
      expect(ran.runAt.getTime()).toBeGreaterThan(Date.now());
      expect(ran.runAt.getTime() - Date.now()).toBeLessThanOrEqual(3_600_000);
      expect(ran.runAt.getUTCMinutes()).toBe(0);
    } finally {
      await again.close();
    }
  });

  it("with missed: 'skip', skips occurrences missed during downtime", async () => {
    const database = await freshDatabase(backend);
    const first = await startApp({
      database,
      providers: [HourlyDigestSkipping],
      jobs: { runner: false },
    });
    const [row] = await first.get(JobsService).list({ kind: 'digest' });
    await setRunAt(first, row.id, Date.now() - 5 * 3_600_000);
    await first.close();

    const again = await startApp({ database, providers: [HourlyDigestSkipping] });
    try {
      const skipped = await waitFor(async () => {
        const current = (await again.get(JobsService).get(row.id))!;
        return current.logs?.includes('missed occurrences skipped') ? current : null;
      }, 'the skip');
      expect(again.get(HourlyDigestSkipping).runs).toBe(0);
      expect(skipped.runAt.getTime()).toBeGreaterThan(Date.now());
    } finally {
      await again.close();
    }
  });

  it('updates the row when the code changes the schedule, and deactivates it (kept) when the code drops it', async () => {
    const database = await freshDatabase(backend);
    const hourly = await startApp({ database, providers: [HourlyDigest], jobs: { runner: false } });
    const [before] = await hourly.get(JobsService).list({ kind: 'digest' });
    await hourly.close();

    const daily = await startApp({ database, providers: [DailyDigest], jobs: { runner: false } });
    const rows = await daily.get(JobsService).list({ kind: 'digest' });
    expect(rows.map((row) => row.id)).toEqual([before.id]);
    expect(JSON.parse(rows[0].schedule!)).toMatchObject({
      cron: '0 8 * * *',
      timezone: 'Europe/Paris',
    });
    const local = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Europe/Paris',
      hour: '2-digit',
      minute: '2-digit',
    });
    expect(local.format(rows[0].runAt)).toBe('08:00');
    await daily.close();

    const dropped = await startApp({
      database,
      providers: [UnscheduledDigest],
      jobs: { runner: false },
    });
    try {
      const [kept] = await dropped.get(JobsService).list({ kind: 'digest' });
      expect(kept).toMatchObject({ id: before.id, status: 'cancelled', active: false });
    } finally {
      await dropped.close();
    }

    // Declared again: the same row comes back to life.
    const back = await startApp({ database, providers: [DailyDigest], jobs: { runner: false } });
    try {
      const revived = await back.get(JobsService).list({ kind: 'digest' });
      expect(revived).toHaveLength(1);
      expect(revived[0]).toMatchObject({ id: before.id, status: 'pending', active: true });
    } finally {
      await back.close();
    }
  });

  it('refuses to cancel a declared schedule (it would come back at the next start), and changes nothing', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [HourlyDigest], jobs: { runner: false } }, async (app) => {
      const jobs = app.get(JobsService);
      const [row] = await jobs.list({ kind: 'digest' });
      const refused = await jobs.cancel(row.id).catch((error: Error) => error);
      expect(refused).toBeInstanceOf(ScheduleNotCancellableError);
      expect((refused as Error).message).toContain("pauseSchedule('digest')");
      expect((refused as Error).message).toContain('removing cron/every');
      expect(await jobs.get(row.id)).toMatchObject({ status: 'pending', active: true });
    });
  });

  it('stays paused through restarts of every instance until resumed, then runs again', async () => {
    const database = await freshDatabase(backend);
    const first = await startApp({ database, providers: [HourlyDigest], jobs: { runner: false } });
    const [row] = await first.get(JobsService).list({ kind: 'digest' });
    expect(await first.get(JobsService).pauseSchedule('digest')).toBe(true);
    // Due long ago: only the pause keeps it from running.
    await setRunAt(first, row.id, Date.now() - 60_000);
    await first.close();

    // Each start syncs the declared schedules (the CLI's next command does too): the pause holds.
    for (let start = 0; start < 2; start++) {
      const again = await startApp({
        database,
        providers: [HourlyDigest],
        jobs: { runner: false },
      });
      try {
        const jobs = again.get(JobsService);
        expect(await jobs.runPending()).toMatchObject({ ran: 0 });
        expect(again.get(HourlyDigest).runs).toBe(0);
        expect(await jobs.schedules()).toEqual([
          expect.objectContaining({ key: 'digest', declared: true, paused: true, nextRunAt: null }),
        ]);
      } finally {
        await again.close();
      }
    }

    // A code change of a paused schedule updates its spec; it stays paused.
    const changed = await startApp({ database, providers: [DailyDigest], jobs: { runner: false } });
    try {
      const jobs = changed.get(JobsService);
      expect(await jobs.get(row.id)).toMatchObject({ status: 'paused' });
      expect(JSON.parse((await jobs.get(row.id))!.schedule!)).toMatchObject({ cron: '0 8 * * *' });
    } finally {
      await changed.close();
    }

    const resumed = await startApp({
      database,
      providers: [HourlyDigest],
      jobs: { runner: false },
    });
    try {
      const jobs = resumed.get(JobsService);
      expect(await jobs.resumeSchedule('digest')).toBe(true);
      expect(await jobs.resumeSchedule('digest')).toBe(false);
      const [schedule] = await jobs.schedules();
      expect(schedule).toMatchObject({ paused: false, status: 'pending' });
      expect(schedule.nextRunAt!.getTime()).toBeGreaterThan(Date.now());
      await setRunAt(resumed, row.id, Date.now() - 1);
      expect(await jobs.runPending()).toMatchObject({ ran: 1, succeeded: 1 });
      expect(resumed.get(HourlyDigest).runs).toBe(1);
    } finally {
      await resumed.close();
    }
  });

  it('names what it could not find when pausing a schedule that does not exist', async () => {
    const database = await freshDatabase(backend);
    await withApp({ database, providers: [Polled], jobs: { runner: false } }, async (app) => {
      const jobs = app.get(JobsService);
      await expect(jobs.pauseSchedule('feeds.poll')).rejects.toThrow(ScheduleNotFoundError);
      await expect(jobs.resumeSchedule('nothing')).rejects.toThrow(/no schedule "nothing"/);
    });
  });

  it('keeps the enqueued periodic form ({ periodic: true, every }) a single row, run by one instance at a time', async () => {
    const database = await freshDatabase(backend);
    const apps = await Promise.all(
      [0, 1].map(() => startApp({ database, providers: [Polled], jobs: { pollInterval: 50 } })),
    );
    try {
      const [a, b] = await Promise.all(
        apps.map((app) =>
          app
            .get(JobsService)
            .enqueue('feeds.poll', { feed: 1 }, { periodic: true, every: '200ms', unique: true }),
        ),
      );
      expect(a.id).toBe(b.id);
      await waitFor(() => apps[0].get(Polled).runs + apps[1].get(Polled).runs >= 3, 'three polls');
      expect(await apps[0].get(JobsService).list({ kind: 'feeds.poll' })).toHaveLength(1);
    } finally {
      await Promise.all(apps.map((app) => app.close()));
    }
  });
});

async function setRunAt(app: Awaited<ReturnType<typeof startApp>>, id: number, at: number) {
  await app
    .get<DataSource>(getDataSourceToken())
    .getRepository(JobEntity)
    .update(id, { runAt: new Date(at) });
}
