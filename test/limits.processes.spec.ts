/**
 * Cluster-wide limits hold across OS processes. Four worker processes (two on SQLite, sharing one
 * file), each a Nest app on the built package (test/support/limits-worker.mjs) with concurrency 2,
 * run three limited kinds at once, enqueued together into one queue; every handler records its start
 * and end. From those records:
 *
 *   limits.slots   concurrency 3            60 runs of 100 ms  never more than 3 at once, and 3 do
 *   limits.rate    rateLimit 10 per 1 s     30 runs of 5 ms    no window of 1 s holds more than 10 starts
 *   limits.groups  group.concurrency 1      4 groups x 10 runs never 2 of a group at once; groups overlap
 *
 * The processes have 8 slots between them (SQLite: 4), more than any of these limits allows at
 * once, and a run of 5 ms leaves room for far more than 10 starts a second: what holds the jobs back
 * is the limit alone.
 */
import { fileURLToPath } from 'node:url';
import { JobEntity, type AnyEnqueueSpec } from 'nestjs-typeorm-jobs';
import { FaultRun, type RunRecord } from './fault/harness.js';
import { type Backend, describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase } from './support/fixtures.js';

const LIMITS_WORKER = fileURLToPath(new URL('./support/limits-worker.mjs', import.meta.url));

const SLOTS = 3;
const RATE = { limit: 10, per: 1_000 };
const KINDS = {
  // Long enough that the slots' backlog outlasts the groups' and the rate kind's: a process kept
  // busy by those at first (seen on SQLite under load: one process ran every slots job, two at a
  // time, while the other ran the groups) is free to take the third slot long before it ends.
  'limits.slots': { options: { concurrency: SLOTS }, ms: 100 },
  'limits.rate': { options: { rateLimit: { limit: RATE.limit, per: '1s' } }, ms: 5 },
  'limits.groups': { options: { group: { concurrency: 1 } }, ms: 40 },
};
const SLOT_JOBS = 60;
const RATE_JOBS = 30;
const GROUPS = ['account:1', 'account:2', 'account:3', 'account:4'];
const PER_GROUP = 10;

/**
 * The rate limiter counts a start when it claims the job, at the moment its claim read under the
 * kinds' lock, which the job keeps as `last_run`: those moments are checked exactly. A handler
 * records its start a little later: the claim's statements return, the runner hands the job to a
 * handler (an event-loop turn in a process that may be busy with its other slots, on a 2-core machine
 * shared by every process and the databases). All processes read the same machine clock, so there is
 * no skew between them, only this delay: up to 145 ms measured here under a load average of 10. We
 * allow 250 ms of it: handler starts are counted in windows of `per` - 250 ms, which hold the starts
 * of claims made within one window of `per`. The figures print the delays measured.
 */
const CLOCK_TOLERANCE = 250;

/** A record of limits-worker.mjs: the harness's fields, with the job's group and a finer clock. */
interface LimitRecord extends RunRecord {
  mono: number;
  group?: string | null;
}

interface Interval {
  job: number;
  worker: string;
  from: number;
  to: number;
}

/**
 * The most intervals open at one moment, and the most processes among them. A handler's start is
 * recorded after its claim took the slot and its end before its outcome gives the slot back, so each
 * interval lies inside its slot's: no tolerance is needed here. At equal times an end counts first.
 */
function maxOverlap(intervals: Interval[]): { runs: number; processes: number } {
  const events = intervals.flatMap((interval) => [
    { at: interval.from, delta: 1, interval },
    { at: interval.to, delta: -1, interval },
  ]);
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  const open = new Set<Interval>();
  let runs = 0;
  let processes = 0;
  for (const { delta, interval } of events) {
    if (delta > 0) open.add(interval);
    else open.delete(interval);
    runs = Math.max(runs, open.size);
    processes = Math.max(processes, new Set([...open].map((run) => run.worker)).size);
  }
  return { runs, processes };
}

/**
 * Starts `processes` worker processes (test/support/limits-worker.mjs) on a fresh database, enqueues
 * `specs` and waits until every job succeeded; gives their records and rows.
 */
async function runCluster(
  name: string,
  backend: Backend,
  workers: { processes: number; jobs: Record<string, unknown>; kinds: Record<string, unknown> },
  specs: AnyEnqueueSpec[],
): Promise<{
  run: FaultRun;
  records: LimitRecord[];
  enqueued: Map<number, { kind: string; group: string | null }>;
  rows: JobEntity[];
}> {
  const run = await FaultRun.open(name, await freshDatabase(backend));
  try {
    await Promise.all(
      Array.from({ length: workers.processes }, (_, i) =>
        run.start(`w${i}`, { jobs: workers.jobs, kinds: workers.kinds }, LIMITS_WORKER),
      ),
    );
    const jobs = await run.jobs.enqueueMany(specs);
    const enqueued = new Map(
      jobs.map((job, n) => [job.id, { kind: job.kind, group: specs[n].group ?? null }]),
    );
    await run.waitForSucceeded(jobs.length, 60_000);
    const records = run.records() as LimitRecord[];
    const rows = await run.source.getRepository(JobEntity).find();
    return { run, records, enqueued, rows };
  } catch (error) {
    await run.close();
    throw error;
  }
}

/** One interval per run of `kind` (by CLOCK_MONOTONIC), optionally of one group only. */
function intervalsOf(
  records: LimitRecord[],
  enqueued: Map<number, { kind: string; group: string | null }>,
  kind: string,
  group?: string,
): Interval[] {
  const starts = new Map<number, number>();
  const intervals: Interval[] = [];
  for (const record of records) {
    const job = enqueued.get(record.job ?? -1);
    if (!job || job.kind !== kind || (group !== undefined && job.group !== group)) continue;
    if (record.e === 'start') starts.set(record.job!, record.mono);
    if (record.e === 'end')
      intervals.push({
        job: record.job!,
        worker: record.worker,
        from: starts.get(record.job!)!,
        to: record.mono,
      });
  }
  return intervals;
}

/** The most of `times` (sorted) that fall in one window [t, t + length). */
function mostInWindow(times: number[], length: number): number {
  let most = 0;
  let first = 0;
  for (let last = 0; last < times.length; last++) {
    while (times[last] - times[first] >= length) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

afterAll(closeCleaners);

describeBackends('cluster-wide limits across processes', (backend) => {
  const processes = backend.name === 'sqlite' ? 2 : 4;
  // A process whose limited job ends claims again at once, so it tends to keep the slot it freed:
  // with 10 slots, one process could hold the kind's 3 slots all along and the limit would never be
  // shared (seen on PostgreSQL under load). With 2 slots each, 3 at once are always in two processes
  // or more, and a limit kept per process rather than across them would let up to 8 (SQLite: 4) run.
  const workerJobs = { concurrency: 2, pollInterval: 200 };
  let run: FaultRun | undefined;
  let records: LimitRecord[] = [];
  /** The enqueued jobs: id -> kind and group. */
  let enqueued = new Map<number, { kind: string; group: string | null }>();
  let rows: JobEntity[] = [];

  beforeAll(async () => {
    // Each group's jobs one after another, and the rate-limited ones behind the other 100 limited
    // jobs: in claim order, whatever a limit holds back stands in front of what may run.
    const specs: AnyEnqueueSpec[] = [
      ...Array.from({ length: SLOT_JOBS }, () => ({ kind: 'limits.slots', data: {} })),
      ...GROUPS.flatMap((group) =>
        Array.from({ length: PER_GROUP }, () => ({ kind: 'limits.groups', data: {}, group })),
      ),
      ...Array.from({ length: RATE_JOBS }, () => ({ kind: 'limits.rate', data: {} })),
    ];
    ({ run, records, enqueued, rows } = await runCluster(
      `limits-${backend.name}`,
      backend,
      { processes, jobs: workerJobs, kinds: KINDS },
      specs,
    ));
  }, 120_000);

  afterAll(async () => {
    await run?.close();
  }, 60_000);

  const runsOf = (kind: string, group?: string) => intervalsOf(records, enqueued, kind, group);

  it('runs every job once, to its end, and tells each handler its job group', () => {
    expect(rows.map((row) => row.status)).toEqual(rows.map(() => 'succeeded'));
    expect(rows.map((row) => row.attempts)).toEqual(rows.map(() => 1));
    for (const [id, job] of enqueued) {
      const starts = records.filter((record) => record.e === 'start' && record.job === id);
      expect({ id, starts: starts.length }).toEqual({ id, starts: 1 });
      expect({ id, group: starts[0].group }).toEqual({ id, group: job.group });
      expect(records.some((record) => record.e === 'end' && record.job === id)).toBe(true);
    }
    expect(new Set(rows.map((row) => row.group))).toEqual(new Set([...GROUPS, null]));
  });

  it(`never runs more than ${SLOTS} jobs of a kind with concurrency ${SLOTS} at once across the processes, and runs ${SLOTS}`, () => {
    const intervals = runsOf('limits.slots');
    expect(intervals).toHaveLength(SLOT_JOBS);
    const most = maxOverlap(intervals);
    figures('concurrency', {
      limit: SLOTS,
      maxRunningAtOnce: most.runs,
      maxProcessesRunningItAtOnce: most.processes,
      processesThatRanIt: new Set(intervals.map((interval) => interval.worker)).size,
    });
    expect(most.runs).toBe(SLOTS);
    // The limit was shared: its runs were in more than one process at once.
    expect(most.processes).toBeGreaterThan(1);
  });

  it(`starts no more than ${RATE.limit} jobs of a kind with rateLimit ${RATE.limit} per 1s in any window of 1 s across the processes, so ${RATE_JOBS} take over ${RATE_JOBS / RATE.limit - 1} s`, () => {
    const starts = records
      .filter((record) => record.e === 'start' && record.kind === 'limits.rate')
      .map((record) => record.mono)
      .sort((a, b) => a - b);
    expect(starts).toHaveLength(RATE_JOBS);
    // The moments the limiter counted: each job's claim, as stored (ms, the same clock).
    const claimed = new Map(
      rows
        .filter((row) => row.kind === 'limits.rate')
        .map((row) => [row.id, row.lastRun!.getTime()]),
    );
    const claims = [...claimed.values()].sort((a, b) => a - b);
    const rateStarts = records.filter(
      (record) => record.e === 'start' && record.kind === 'limits.rate',
    );
    const delays = rateStarts.map((record) => record.t - claimed.get(record.job!)!);
    const mostClaims = mostInWindow(claims, RATE.per);
    const mostStarts = mostInWindow(starts, RATE.per - CLOCK_TOLERANCE);
    const span = starts[starts.length - 1] - starts[0];
    figures('rate', {
      limit: RATE.limit,
      perMs: RATE.per,
      maxClaimsInWindowOfPer: mostClaims,
      toleranceMs: CLOCK_TOLERANCE,
      maxStartsInWindowOfPerMinusTolerance: mostStarts,
      maxStartsInWindowOfPer: mostInWindow(starts, RATE.per),
      claimToStartMs: { min: Math.min(...delays), max: Math.max(...delays) },
      startsSpanMs: Math.round(span),
      processesThatStartedIt: new Set(rateStarts.map((record) => record.worker)).size,
    });
    expect(mostClaims).toBeLessThanOrEqual(RATE.limit);
    expect(mostStarts).toBeLessThanOrEqual(RATE.limit);
    // Not vacuous: 30 starts at 10 per second take more than two windows; jobs of 5 ms on the
    // processes' free slots would all have started within one window without the limit.
    expect(claims[claims.length - 1] - claims[0]).toBeGreaterThanOrEqual(
      (RATE_JOBS / RATE.limit - 1) * RATE.per,
    );
  });

  it('never runs two jobs of one group at once with group concurrency 1, while different groups run side by side', () => {
    const perGroup = Object.fromEntries(
      GROUPS.map((group) => [group, maxOverlap(runsOf('limits.groups', group)).runs]),
    );
    const processesPerGroup = Object.fromEntries(
      GROUPS.map((group) => [
        group,
        new Set(runsOf('limits.groups', group).map((run) => run.worker)).size,
      ]),
    );
    const acrossGroups = maxOverlap(runsOf('limits.groups'));
    figures('group concurrency', {
      limit: 1,
      maxRunningAtOnce: perGroup,
      processesThatRanEachGroup: processesPerGroup,
      acrossGroups: acrossGroups.runs,
    });
    expect(perGroup).toEqual(Object.fromEntries(GROUPS.map((group) => [group, 1])));
    expect(acrossGroups.runs).toBeGreaterThanOrEqual(2);
  });

  function figures(scenario: string, values: Record<string, unknown>): void {
    process.stdout.write(
      `[limits figures] ${JSON.stringify({ scenario, backend: backend.name, processes, ...values })}\n`,
    );
  }
});

/**
 * A kind limited by its groups' concurrency alone, with fewer free groups than the processes' slots
 * want (lib/limits/scarce-groups.ts): the claims then come in small, spread over a random window of
 * the groups, and are tried again soon after meeting another process's claim. The limit still holds
 * across the processes, each job runs once, and the groups' runs overlap.
 */
const FEW_GROUPS = ['tenant:1', 'tenant:2', 'tenant:3'];
const FEW_PER_GROUP = 12;

describeBackends('a kind limited by its groups alone, few groups, across processes', (backend) => {
  const processes = backend.name === 'sqlite' ? 2 : 3;
  let run: FaultRun | undefined;
  let records: LimitRecord[] = [];
  let enqueued = new Map<number, { kind: string; group: string | null }>();
  let rows: JobEntity[] = [];

  beforeAll(async () => {
    const kinds = { 'tenants.sync': { options: { group: { concurrency: 1 } }, ms: 30 } };
    const specs: AnyEnqueueSpec[] = FEW_GROUPS.flatMap((group) =>
      Array.from({ length: FEW_PER_GROUP }, () => ({ kind: 'tenants.sync', data: {}, group })),
    );
    ({ run, records, enqueued, rows } = await runCluster(
      `few-groups-${backend.name}`,
      backend,
      { processes, jobs: { concurrency: 2, pollInterval: 200 }, kinds },
      specs,
    ));
  }, 120_000);

  afterAll(async () => {
    await run?.close();
  }, 60_000);

  it('runs every job once, never two of a group at once, while the groups run side by side', () => {
    expect(rows.map((row) => [row.status, row.attempts])).toEqual(rows.map(() => ['succeeded', 1]));
    for (const id of enqueued.keys()) {
      const starts = records.filter((record) => record.e === 'start' && record.job === id);
      expect({ id, starts: starts.length }).toEqual({ id, starts: 1 });
    }
    const perGroup = Object.fromEntries(
      FEW_GROUPS.map((group) => [
        group,
        maxOverlap(intervalsOf(records, enqueued, 'tenants.sync', group)).runs,
      ]),
    );
    const all = intervalsOf(records, enqueued, 'tenants.sync');
    const ranPerProcess: Record<string, number> = {};
    for (const interval of all)
      ranPerProcess[interval.worker] = (ranPerProcess[interval.worker] ?? 0) + 1;
    process.stdout.write(
      `[limits figures] ${JSON.stringify({ scenario: 'few groups', backend: backend.name, processes, maxRunningAtOnce: perGroup, ranPerProcess })}\n`,
    );
    expect(perGroup).toEqual(Object.fromEntries(FEW_GROUPS.map((group) => [group, 1])));
    expect(maxOverlap(all).runs).toBeGreaterThanOrEqual(2);
  });
});
