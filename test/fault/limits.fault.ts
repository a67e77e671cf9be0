/**
 * A kind's cluster-wide concurrency through a SIGKILL: a replica dies while it runs jobs of a kind
 * limited to 2 at once. Its slots stay taken until its lease runs out (a dead instance cannot say it
 * stopped), then the others claim its jobs again; every job ends succeeded, the limit held
 * throughout, and the kind runs 2 at once again: no capacity is lost for good.
 *
 * Four replicas of test/support/limits-worker.mjs on PostgreSQL and MariaDB, three on one SQLite file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataSourceOptions } from 'typeorm';
import {
  FaultRun,
  describeServers,
  freshServerDatabase,
  freshSqliteDatabase,
  reportFigures,
  tally,
  until,
  type RunRecord,
} from './harness.js';

const LIMITS_WORKER = fileURLToPath(new URL('../support/limits-worker.mjs', import.meta.url));

const KIND = 'limits.slow';
const LIMIT = 2;
/** Short, so the killed replica's slots come back within seconds. */
const LEASE = 2_000;
/** Long runs: the kill lands inside some, and many are left to run after the lease runs out. */
const RUN_MS = 800;
const JOBS = 16;

interface Interval {
  job: number;
  worker: string;
  from: number;
  to: number;
}

/** The most intervals open at one moment; at equal times an end counts before a start. */
function maxOverlap(intervals: Interval[]): number {
  const events = intervals.flatMap(({ from, to }) => [
    { at: from, delta: 1 },
    { at: to, delta: -1 },
  ]);
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let open = 0;
  let most = 0;
  for (const { delta } of events) {
    open += delta;
    most = Math.max(most, open);
  }
  return most;
}

/** Jobs whose handler started in these records and has not ended. */
function openRuns(records: RunRecord[]): Map<number, RunRecord> {
  const open = new Map<number, RunRecord>();
  for (const record of records) {
    if (record.job === undefined) continue;
    if (record.e === 'start') open.set(record.job, record);
    else open.delete(record.job);
  }
  return open;
}

/** Runs the scenario on `database` with `replicas` worker processes. */
async function killHolderOfSlots(
  label: string,
  backend: string,
  database: DataSourceOptions,
  replicas: number,
): Promise<FaultRun> {
  const run = await FaultRun.open(label, database);
  try {
    const options = {
      jobs: { concurrency: 10, pollInterval: 200, lease: LEASE },
      kinds: { [KIND]: { options: { concurrency: LIMIT }, ms: RUN_MS } },
    };
    await Promise.all(
      Array.from({ length: replicas }, (_, i) => run.start(`w${i}`, options, LIMITS_WORKER)),
    );
    const ids = (
      await run.jobs.enqueueMany(Array.from({ length: JOBS }, () => ({ kind: KIND, data: {} })))
    ).map((job) => job.id);

    // Once a couple of runs have ended, kill the replica that holds the most of the kind's slots.
    const victim = await until(
      () => {
        if (run.ended() < LIMIT) return null;
        const holders = run.workers
          .map((worker) => ({ worker, open: openRuns(run.records(worker.name)).size }))
          .sort((a, b) => b.open - a.open);
        return holders[0].open > 0 ? holders[0].worker : null;
      },
      'a replica running jobs of the limited kind',
      60_000,
    );
    victim.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.exited;
    const inHandlerAtKill = openRuns(run.records(victim.name));
    // The leases the dead replica holds, read before they can run out: its slots are taken until then.
    const held = await heldUntil(run, victim.pid);

    await run.waitForSucceeded(ids.length, 120_000);
    const records = run.records();
    const result = tally(ids, await run.rows(), records);

    // Every run as an interval: a run of the dead replica holds its slot until its lease ends.
    const starts = new Map<string, RunRecord>();
    const intervals: Interval[] = [];
    for (const record of records) {
      if (record.job === undefined) continue;
      const key = `${record.worker}#${record.job}#${record.attempt}`;
      if (record.e === 'start') starts.set(key, record);
      if (record.e === 'end') {
        const start = starts.get(key)!;
        starts.delete(key);
        intervals.push({ job: record.job, worker: record.worker, from: start.t, to: record.t });
      }
    }
    for (const start of starts.values()) {
      // Started in the killed replica and never ended.
      intervals.push({
        job: start.job!,
        worker: start.worker,
        from: start.t,
        to: Math.max(killedAt, held.get(start.job!) ?? killedAt),
      });
    }
    const lastLeaseEnd = Math.max(killedAt, ...held.values());
    const afterLeases = intervals
      .filter((interval) => interval.to > lastLeaseEnd)
      .map((interval) => ({ ...interval, from: Math.max(interval.from, lastLeaseEnd) }));
    const rerunDelays = [...inHandlerAtKill.keys()].map((job) => {
      const rerun = records.find((r) => r.e === 'start' && r.job === job && r.t > killedAt);
      return rerun ? rerun.t - killedAt : null;
    });

    reportFigures('limits-kill-9', backend, {
      jobs: ids.length,
      replicas,
      limit: LIMIT,
      lease: LEASE,
      statuses: result.statuses,
      lost: result.lost.length,
      inHandlerAtKill: inHandlerAtKill.size,
      leasesHeldAtKill: held.size,
      maxRunningAtOnce: maxOverlap(intervals),
      maxRunningAtOnceAfterLeasesEnded: maxOverlap(afterLeases),
      leaseLeftAtKillMs: [...held.values()].map((end) => end - killedAt),
      rerunAfterKillMs: rerunDelays,
    });

    expect(held.size).toBeGreaterThan(0);
    expect(inHandlerAtKill.size).toBeGreaterThan(0);
    expect(result.lost).toEqual([]);
    expect(result.statuses).toEqual({ succeeded: ids.length });
    // Only runs of the dead replica ran again, elsewhere, each once its lease had run out; every
    // run it was in the middle of did.
    const unexplained = [...result.twice].filter(([job, [first, ...later]]) => {
      const leaseEnd = held.get(job) ?? killedAt;
      return !(
        first.worker === victim.name &&
        first.t <= killedAt &&
        later.every((rerun) => rerun.worker !== victim.name && rerun.t >= leaseEnd)
      );
    });
    expect(unexplained).toEqual([]);
    for (const job of inHandlerAtKill.keys()) expect(result.twice.has(job)).toBe(true);
    expect(maxOverlap(intervals)).toBeLessThanOrEqual(LIMIT);
    expect(maxOverlap(afterLeases)).toBe(LIMIT);
    return run;
  } catch (error) {
    await run.close();
    throw error;
  }
}

/** The end of each lease `pid` holds, by job id (its slots are taken until then). */
async function heldUntil(run: FaultRun, pid: number): Promise<Map<number, number>> {
  const rows: Array<{ id: number | string; locked_until: number | string }> =
    await run.source.query(
      `SELECT id, locked_until FROM nest_jobs WHERE status = 'running' AND locked_by LIKE '%:${pid}:%'`,
    );
  return new Map(rows.map((row) => [Number(row.id), Number(row.locked_until)]));
}

describeServers('a limited kind through a SIGKILL', (backend) => {
  let run: FaultRun | undefined;

  afterEach(async () => {
    await run?.close();
    run = undefined;
  });

  it(`keeps concurrency ${LIMIT} across 4 replicas when the one holding its slots is killed, and runs ${LIMIT} at once again once the lease runs out`, async () => {
    run = await killHolderOfSlots(
      'limits-kill',
      backend.name,
      await freshServerDatabase(backend.name, backend.url),
      4,
    );
  }, 180_000);
});

describe('a limited kind through a SIGKILL [sqlite: 3 processes on one file]', () => {
  const dir = mkdtempSync(join(tmpdir(), 'jobs-fault-limits-'));
  let run: FaultRun | undefined;

  afterAll(async () => {
    await run?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`keeps concurrency ${LIMIT} across 3 replicas when the one holding its slots is killed, and runs ${LIMIT} at once again once the lease runs out`, async () => {
    run = await killHolderOfSlots('limits-kill', 'sqlite', freshSqliteDatabase(dir), 3);
  }, 180_000);
});
