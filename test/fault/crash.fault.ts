/**
 * Many replicas, and one killed with SIGKILL: nothing is lost, and the only jobs that run twice are
 * the ones the killed process held when it died, claimed again once their lease ran out.
 */
import {
  FAULT_SIZE,
  FaultRun,
  describeServers,
  freshServerDatabase,
  limitFor,
  reportFigures,
  tally,
  until,
} from './harness.js';

const REPLICAS = 4;
const CONCURRENCY = 10;
const LEASE = 2_000;

describeServers('replicas sharing one database', (backend) => {
  let run: FaultRun | undefined;

  afterEach(async () => {
    await run?.close();
    run = undefined;
  });

  it(
    `runs every one of ${FAULT_SIZE} jobs exactly once with ${REPLICAS} processes x concurrency ${CONCURRENCY}`,
    async () => {
      run = await FaultRun.open('no-crash', await freshServerDatabase(backend.name, backend.url));
      await run.startMany(REPLICAS, {
        jobs: { concurrency: CONCURRENCY, pollInterval: 200 },
        handlerMs: 5,
      });
      const started = Date.now();
      const ids = await run.enqueueWork(FAULT_SIZE);
      await run.waitForSucceeded(ids.length);
      const seconds = (Date.now() - started) / 1000;

      const result = tally(ids, await run.rows(), run.records());
      const perWorker = countBy(
        run.records().filter((r) => r.e === 'end'),
        (r) => r.worker,
      );
      reportFigures('no-crash', backend.name, {
        jobs: result.jobs,
        lost: result.lost.length,
        runTwice: result.twice.size,
        statuses: result.statuses,
        perWorker,
        seconds,
      });
      expect(result.lost).toEqual([]);
      expect([...result.twice.keys()]).toEqual([]);
      expect(result.statuses).toEqual({ succeeded: ids.length });
      expect(result.runs).toBe(ids.length);
    },
    limitFor(FAULT_SIZE) + 60_000,
  );

  it(
    `finishes every one of ${FAULT_SIZE} jobs when one of ${REPLICAS} processes is killed with SIGKILL mid-run`,
    async () => {
      run = await FaultRun.open('kill', await freshServerDatabase(backend.name, backend.url));
      const options = {
        jobs: { concurrency: CONCURRENCY, pollInterval: 200, lease: LEASE },
        handlerMs: 50,
      };
      const [victim] = await run.startMany(REPLICAS, options);
      const ids = await run.enqueueWork(FAULT_SIZE);

      // Kill it while it holds jobs: some of its handlers have started and not ended.
      await until(
        () => {
          const mine = run!.records('w0');
          const inHandler = openRuns(mine).size;
          return (
            mine.filter((r) => r.e === 'end').length >= FAULT_SIZE / (REPLICAS * 4) && inHandler > 0
          );
        },
        'the victim to be busy',
        limitFor(FAULT_SIZE),
      );
      const killedAt = Date.now();
      victim.kill('SIGKILL');
      await victim.exited;
      const victimRuns = run.records('w0');
      const inHandlerAtKill = openRuns(victimRuns);

      await run.waitForSucceeded(ids.length);
      const rows = await run.rows();
      const result = tally(ids, rows, run.records());

      // Every job run twice had a run in the killed process, begun before the kill, and its next
      // run elsewhere only after the kill.
      const unexplained: number[] = [];
      const reclaimDelays: number[] = [];
      for (const [id, starts] of result.twice) {
        const [first, ...later] = starts;
        const ok =
          first.worker === 'w0' &&
          first.t <= killedAt &&
          later.every((s) => s.worker !== 'w0' && s.t > killedAt);
        if (!ok) unexplained.push(id);
        else reclaimDelays.push(later[0].t - killedAt);
      }
      const twiceAfterHandlerEnded = [...result.twice.keys()].filter(
        (id) => !inHandlerAtKill.has(id),
      );
      reportFigures('kill-9', backend.name, {
        jobs: result.jobs,
        lost: result.lost.length,
        runTwice: result.twice.size,
        inHandlerAtKill: inHandlerAtKill.size,
        runTwiceWhoseHandlerHadEnded: twiceAfterHandlerEnded.length,
        unexplainedTwice: unexplained.length,
        lease: LEASE,
        reclaimDelayMs: { min: Math.min(...reclaimDelays), max: Math.max(...reclaimDelays) },
        statuses: result.statuses,
      });
      expect(result.lost).toEqual([]);
      expect(result.statuses).toEqual({ succeeded: ids.length });
      expect(unexplained).toEqual([]);
      // Every job the killed process was running ran again to its end elsewhere.
      for (const id of inHandlerAtKill) expect(result.twice.has(id)).toBe(true);
      expect(rows.filter((row) => row.lockedBy !== null)).toEqual([]);
    },
    2 * limitFor(FAULT_SIZE) + 60_000,
  );

  it(
    `runs nothing twice when one of ${REPLICAS} processes is stopped with SIGTERM mid-run (app.close())`,
    async () => {
      run = await FaultRun.open('sigterm', await freshServerDatabase(backend.name, backend.url));
      const options = {
        jobs: { concurrency: CONCURRENCY, pollInterval: 200, lease: LEASE, shutdownTimeout: 5_000 },
        handlerMs: 50,
      };
      const [stopped] = await run.startMany(REPLICAS, options);
      const ids = await run.enqueueWork(FAULT_SIZE);
      await until(
        () => openRuns(run!.records('w0')).size > 0 && run!.ended() >= FAULT_SIZE / 4,
        'w0 to be busy',
        limitFor(FAULT_SIZE),
      );
      stopped.kill('SIGTERM');
      await stopped.exited;
      const closed = run.records().some((r) => r.worker === 'w0' && r.e === 'closed');
      const heldAfterExit = (await run.rows()).filter((row) =>
        row.lockedBy?.includes(`:${stopped.pid}:`),
      ).length;

      await run.waitForSucceeded(ids.length);
      const result = tally(ids, await run.rows(), run.records());
      reportFigures('sigterm', backend.name, {
        jobs: result.jobs,
        lost: result.lost.length,
        runTwice: result.twice.size,
        lockedByStoppedAfterExit: heldAfterExit,
        statuses: result.statuses,
      });
      expect(closed).toBe(true);
      expect(heldAfterExit).toBe(0);
      expect(result.lost).toEqual([]);
      expect([...result.twice.keys()]).toEqual([]);
    },
    limitFor(FAULT_SIZE) + 60_000,
  );
});

/** Jobs whose handler started in these records and has not ended (nor been aborted). */
function openRuns(records: Array<{ e: string; job?: number }>): Set<number> {
  const open = new Set<number>();
  for (const record of records) {
    if (record.job === undefined) continue;
    if (record.e === 'start') open.add(record.job);
    else open.delete(record.job);
  }
  return open;
}

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}
