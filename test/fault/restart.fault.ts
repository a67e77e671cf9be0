/**
 * The database restarts in the middle of a run: the replicas keep running, log the outage once per
 * backoff interval (not once per poll), reconnect and finish every job. A job whose outcome could
 * not be written is not lost: it runs again, and the runner's log says so.
 *
 * Runs against a throwaway server of its own (test/fault/servers.ts), never the shared one.
 */
import {
  FAULT_SIZE,
  FaultRun,
  freshServerDatabase,
  jobsNamed,
  limitFor,
  reportFigures,
  tally,
  until,
  type RunRecord,
  type ServerName,
  type Worker,
} from './harness.js';
import { startThrowaway, throwawayUnavailable, type ThrowawayServer } from './servers.js';

const REPLICAS = 4;
const LEASE = 2_000;
/** Longer than the lease, so some outcomes cannot be written before their lease runs out. */
const DOWN_MS = 4_000;
const RESUME_BOUND_MS = 10_000;
const required = process.env.CI === 'true' || process.env.JOBS_TEST_REQUIRE_ALL === '1';

const OUTAGE = /Database unreachable/;
const BACK = /Database reachable again/;
const NOT_WRITTEN = /The outcome of job (\d+) could not be written/;
const LEASE_MOVED_ON = /Job (\d+) finished here, but its lease had moved on/;

for (const type of ['postgres', 'mysql'] as ServerName[]) {
  const unavailable = throwawayUnavailable(type);
  const title = `a database restart in the middle of a run [${type}]`;
  if (unavailable && !required) {
    describe.skip(`${title}: skipped, ${unavailable}`, () => it('is skipped', () => undefined));
    continue;
  }

  describe(title, () => {
    let server: ThrowawayServer | undefined;
    let run: FaultRun | undefined;
    /** What the (expensive) restart run left behind, for the checks that follow it. */
    let workers: Worker[] = [];
    let upAt = 0;

    afterAll(async () => {
      await run?.close();
      await server?.stop();
    });

    it(
      `loses none of ${FAULT_SIZE} jobs; only jobs whose outcome could not be written run again`,
      async () => {
        if (unavailable)
          throw new Error(`The restart scenario must run here (CI), but: ${unavailable}`);
        server = await startThrowaway(type);
        run = await FaultRun.open(`restart-${type}`, await freshServerDatabase(type, server.url));
        workers = await run.startMany(REPLICAS, {
          jobs: { concurrency: 10, pollInterval: 200, lease: LEASE },
          handlerMs: 50,
        });
        const ids = await run.enqueueWork(FAULT_SIZE);
        await until(
          () => run!.ended() >= FAULT_SIZE / 5,
          'a fifth of the jobs to run',
          limitFor(FAULT_SIZE),
        );
        const restartedAt = Date.now();
        await server.restart(DOWN_MS);
        upAt = Date.now();

        await run.waitForSucceeded(ids.length);
        const records = run.records();
        const result = tally(ids, await run.rows(), records);
        const explained = new Set<number>();
        for (const worker of workers) {
          for (const id of jobsNamed(worker, NOT_WRITTEN)) explained.add(id);
          for (const id of jobsNamed(worker, LEASE_MOVED_ON)) explained.add(id);
        }
        const unexplained = [...result.twice.keys()].filter((id) => !explained.has(id));
        const lastEnd = records.filter((r) => r.e === 'end').at(-1)!.t;
        reportFigures('db-restart', type, {
          jobs: result.jobs,
          lost: result.lost.length,
          runTwice: result.twice.size,
          outcomeNotWritten: explained.size,
          unexplainedTwice: unexplained.length,
          downMs: upAt - restartedAt,
          lease: LEASE,
          outageWarningsPerWorker: workers.map((worker) => worker.lines(OUTAGE).length),
          firstRunAfterRestartMs: workers.map((worker) =>
            firstStartAfter(records, worker.name, upAt),
          ),
          lastJobEndedAfterRestartMs: lastEnd - upAt,
          statuses: result.statuses,
        });

        expect(result.lost).toEqual([]);
        expect(result.statuses).toEqual({ succeeded: ids.length });
        expect(unexplained).toEqual([]);
        expect(workers.every((worker) => worker.running)).toBe(true);
        for (const worker of workers) {
          // A poll every 200 ms during a 4 s outage would be ~20 lines; the runner says it once,
          // and again if a dead pooled connection fails once more right after the restart.
          expect(worker.lines(OUTAGE).length).toBeGreaterThan(0);
          expect(worker.lines(OUTAGE).length).toBeLessThanOrEqual(4);
        }
      },
      limitFor(FAULT_SIZE) * 2 + 120_000,
    );

    // The lease timer's first statement that goes through ends the outage and wakes the runner, so
    // claims resume within a lease/3 tick and a poll of the database coming back (under 1 s here),
    // not after the outage backoff (up to 30 s). The bound is 10x that.
    it('every replica claims jobs again within seconds of the database being back, and says so', () => {
      expect(workers.length).toBe(REPLICAS);
      const records = run!.records();
      for (const worker of workers) {
        expect(worker.lines(BACK).length).toBeGreaterThan(0);
        expect(firstStartAfter(records, worker.name, upAt)).toEqual(expect.any(Number));
        expect(firstStartAfter(records, worker.name, upAt)).toBeLessThan(RESUME_BOUND_MS);
      }
    });
  });
}

/** Milliseconds from `after` to the worker's first handler start after it, or null if none. */
function firstStartAfter(records: RunRecord[], worker: string, after: number): number | null {
  const first = records.find((r) => r.worker === worker && r.e === 'start' && r.t >= after);
  return first ? first.t - after : null;
}
