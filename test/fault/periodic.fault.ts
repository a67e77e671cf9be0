/**
 * A periodic job is a cluster singleton: four replicas each ask for it at startup (with `unique`),
 * one row exists, and its runs follow one another: never two at once, each at least one interval
 * after the previous one ended, whichever replica runs it.
 */
import {
  FaultRun,
  describeServers,
  freshServerDatabase,
  reportFigures,
  until,
  type RunRecord,
} from './harness.js';

const REPLICAS = 4;
const INTERVAL = 1_000;
const RUNS = 8;

describeServers('a periodic job across replicas', (backend) => {
  let run: FaultRun | undefined;

  afterEach(async () => {
    await run?.close();
    run = undefined;
  });

  it(`runs about once per ${INTERVAL} ms in total across ${REPLICAS} replicas, never concurrently with itself`, async () => {
    run = await FaultRun.open('periodic', await freshServerDatabase(backend.name, backend.url));
    await run.startMany(REPLICAS, {
      jobs: { pollInterval: 100, lease: 2_000 },
      handlerMs: 100,
      periodic: { interval: INTERVAL },
    });
    const ticks = (): RunRecord[] =>
      run!.records().filter((r) => r.kind === 'fault.tick' && r.e !== 'ready');
    await until(
      () => ticks().filter((r) => r.e === 'end').length >= RUNS,
      `${RUNS} runs of the periodic job`,
      60_000,
    );

    const rows = await run.rows();
    const records = ticks();
    const starts = records.filter((r) => r.e === 'start');
    const ends = records.filter((r) => r.e === 'end');
    const gaps: number[] = [];
    const overlaps: string[] = [];
    for (let i = 1; i < starts.length; i++) {
      const previousEnd = ends[i - 1];
      if (!previousEnd || previousEnd.t > starts[i].t)
        overlaps.push(`run ${i + 1} started before run ${i} ended`);
      else gaps.push(starts[i].t - previousEnd.t);
    }
    const seconds = (starts.at(-1)!.t - starts[0].t) / 1000;
    reportFigures('periodic', backend.name, {
      interval: INTERVAL,
      runs: starts.length,
      runsPerSecond: Number(((starts.length - 1) / seconds).toFixed(2)),
      replicasThatRanIt: new Set(starts.map((r) => r.worker)).size,
      gapAfterPreviousEndMs: { min: Math.min(...gaps), max: Math.max(...gaps) },
      overlaps: overlaps.length,
    });
    expect(rows.length).toBe(1);
    expect(new Set(starts.map((r) => r.job)).size).toBe(1);
    expect(overlaps).toEqual([]);
    // The next run is due one interval after the previous run ended (its outcome is written after).
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(INTERVAL);
  });
  it('keeps running after the replica running it is killed, and never twice at once', async () => {
    run = await FaultRun.open(
      'periodic-kill',
      await freshServerDatabase(backend.name, backend.url),
    );
    await run.startMany(REPLICAS, {
      jobs: { pollInterval: 100, lease: 2_000 },
      handlerMs: 500,
      periodic: { interval: INTERVAL },
    });
    const ticks = (): RunRecord[] =>
      run!.records().filter((r) => r.kind === 'fault.tick' && (r.e === 'start' || r.e === 'end'));
    // Kill the replica while it is inside a run of the periodic job.
    const inRun = await until(
      () => {
        const last = ticks().at(-1);
        return last?.e === 'start' && ticks().length > 2 ? last : null;
      },
      'a run of the periodic job to be under way',
      60_000,
    );
    const victim = run.workers.find((w) => w.name === inRun.worker)!;
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    await victim.exited;
    await until(
      () => ticks().filter((r) => r.e === 'end' && r.t > killedAt).length >= 3,
      'three more runs after the kill',
      60_000,
    );

    const records = ticks();
    const after = records.filter((r) => r.t > killedAt);
    const firstAfter = after.find((r) => r.e === 'start')!;
    reportFigures('periodic-kill', backend.name, {
      lease: 2_000,
      nextRunAfterKillMs: firstAfter.t - killedAt,
      runsAfterKill: after.filter((r) => r.e === 'start').length,
    });
    // The killed run never ended; the next one began only after the kill, on another replica.
    expect(records.some((r) => r.e === 'end' && r.worker === victim.name && r.t > inRun.t)).toBe(
      false,
    );
    expect(firstAfter.worker).not.toBe(victim.name);
    // From then on, runs follow one another.
    for (let i = 1; i < after.length; i++) expect(after[i].e).not.toBe(after[i - 1].e);
    expect(after[0].e).toBe('start');
  });
});
