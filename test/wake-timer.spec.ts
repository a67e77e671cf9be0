import { Injectable } from '@nestjs/common';
import { JobKind, JobsService, type JobContext } from 'nestjs-typeorm-jobs';
import type { Logger as TypeOrmLogger } from 'typeorm';
import { MAX_TIMER_DELAY, WakeTimer } from '../lib/runner/wake-timer.js';
import { backends } from './support/backends.js';
import { closeCleaners, freshDatabase, waitForStatus, withApp } from './support/fixtures.js';

const DAY = 24 * 60 * 60_000;
/**
 * How long the tests watch for wakes that must not come. A fixed wait, as nothing else shows an
 * absence: with the defect, a wake came every millisecond, so this window held dozens.
 */
const WATCH_MS = 150;
const watch = () => new Promise((resolve) => setTimeout(resolve, WATCH_MS));

/** Counts the claims (UPDATE ... SET status = 'running') a data source sends. */
class ClaimCounter implements TypeOrmLogger {
  claims = 0;
  logQuery(sql: string) {
    if (/^\s*UPDATE\b[\s\S]*status = 'running'/i.test(sql)) this.claims++;
  }
  logQueryError() {}
  logQuerySlow() {}
  logSchemaBuild() {}
  logMigration() {}
  log() {}
}

/**
 * The runner's wake timer (lib/runner/wake-timer.ts) with moments beyond what a Node timer holds
 * (2^31 - 1 ms, 24.8 days). Such a timer fires after 1 ms: a job delayed by a month used to make
 * the runner wake and claim every millisecond until a nearer moment came, or for good.
 */
describe('wake timer', () => {
  afterAll(closeCleaners);

  it('a moment a month away does not wake the runner; a nearer one still does, not before its time', async () => {
    const wakes: number[] = [];
    let woken: () => void = () => undefined;
    const timer = new WakeTimer(() => {
      wakes.push(Date.now());
      woken();
    });
    try {
      timer.wakeAt(Date.now() + 30 * DAY);
      timer.wakeAt(Date.now() + MAX_TIMER_DELAY + 5_000);
      await watch();
      expect(wakes).toEqual([]);
      const moment = Date.now() + 40;
      const fired = new Promise<void>((resolve) => (woken = resolve));
      timer.wakeAt(moment);
      await fired;
      expect(wakes).toHaveLength(1);
      expect(wakes[0]).toBeGreaterThanOrEqual(moment);
      await watch();
      expect(wakes).toHaveLength(1);
    } finally {
      timer.stop();
    }
  });

  it('an idle app with a job delayed by 30 days does not claim in a loop, and runs its other jobs', async () => {
    @Injectable()
    class Work {
      @JobKind('later')
      later(job: JobContext) {
        return job.id;
      }
    }
    const counter = new ClaimCounter();
    const sqlite = backends.find((backend) => backend.name === 'sqlite')!;
    const database = { ...(await freshDatabase(sqlite)), logging: true, logger: counter } as const;
    // A poll interval that does not come in the window: every claim in it is a wake-up's.
    await withApp({ database, providers: [Work], jobs: { pollInterval: 60_000 } }, async (app) => {
      const jobs = app.get(JobsService);
      const soon = await jobs.enqueue('later', null, { delay: 30 });
      await waitForStatus(app, soon.id, 'succeeded');
      const far = await jobs.enqueue('later', null, { delay: 30 * DAY });
      const before = counter.claims;
      await watch();
      // None but the wake-ups of the run that just ended, not one per ms (55 seen with the defect).
      expect(counter.claims - before).toBeLessThanOrEqual(2);
      expect((await jobs.get(far.id))!.status).toBe('pending');
    });
  });
});
