/**
 * The race guarantees of dependencies and batches (lib/flows/flow.steps.ts) hold across OS
 * processes. Four worker processes (two on SQLite, sharing one file), each a Nest app on the built
 * package (test/support/flows-worker.mjs), run the jobs; the suite's app only enqueues
 * (runner: false). Every handler records its start and end; from those records and the rows:
 *
 *   flow-1000     one parent waiting on 1,000 children. Each child holds its slot until a gate file
 *                 exists (the processes have more slots than children between them, and claim no
 *                 jobs ahead of free slots), so all 1,000 are running at once, spread over the
 *                 processes; then the gate opens and they all end at the same moment, their ends
 *                 settled by every process at once. The parent starts exactly once, after the last
 *                 child ended, with deps_left 0 and attempts 1.
 *   batch-10000   enqueueBatch of 10,000 no-op jobs with an onComplete callback. The last 1,000 are
 *                 held at a gate in the same way until the 9,000 others have ended, so that the last
 *                 ends of the batch are settled by every process at once, each checking whether the
 *                 batch is done: the callback job is made once and runs once, with the batch's
 *                 counts, after the last job ended.
 *
 * Last, the processes are stopped (gracefully: whatever they were settling is done), and the
 * parent's and the callback's runs and rows are counted again: nothing came late.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobEntity } from 'nestjs-typeorm-jobs';
import { FaultRun, tally, until, type RunRecord } from './fault/harness.js';
import { describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase } from './support/fixtures.js';

const FLOWS_WORKER = fileURLToPath(new URL('./support/flows-worker.mjs', import.meta.url));

const CHILDREN = 1_000;
const BATCH = 10_000;
/** Jobs of the batch held at its gate, to end together: the last ones enqueued (claimed last). */
const HELD = 1_000;
const ENDED = ['succeeded', 'failed', 'cancelled'];

/** A record of flows-worker.mjs: the harness's fields, a finer clock, and what some handlers add. */
interface FlowRecord extends RunRecord {
  mono: number;
  data?: Record<string, unknown>;
  dependencies?: number;
  succeeded?: number;
}

/** CLOCK_MONOTONIC in ms, as the workers record it (the same clock in every process). */
function mono(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

afterAll(closeCleaners);

describeBackends('flows and batches across processes', (backend) => {
  const processes = backend.name === 'sqlite' ? 2 : 4;
  // More slots between the processes than jobs held at a gate (1,200; SQLite 1,100), so that every
  // held job can hold one, whichever process claimed it; and no job claimed ahead of free slots
  // (prefetch 0), where it would wait unstarted behind a process's held ones.
  const workerJobs = {
    concurrency: backend.name === 'sqlite' ? 550 : 300,
    prefetch: 0,
    pollInterval: 200,
  };
  let run: FaultRun;
  let gates: string;
  let parentId = 0;
  let callbackId = 0;

  beforeAll(async () => {
    run = await FaultRun.open(`flows-${backend.name}`, await freshDatabase(backend));
    gates = mkdtempSync(join(run.dir, 'gates-'));
    await Promise.all(
      Array.from({ length: processes }, (_, i) =>
        run.start(`w${i}`, { jobs: workerJobs, gates }, FLOWS_WORKER),
      ),
    );
  }, 180_000);

  afterAll(async () => {
    await run?.close();
  }, 60_000);

  const records = () => run.records() as FlowRecord[];
  const of = (kind: string, event: RunRecord['e']) =>
    records().filter((record) => record.kind === kind && record.e === event);

  /** Fails at once if a worker died; errors of `check` count as "not yet" (see `until`). */
  function alive(): void {
    const dead = run.workers.find((worker) => !worker.running && !worker.stoppedOnPurpose);
    if (dead) {
      throw new Error(
        `worker ${dead.name} died (code ${dead.exitCode}, signal ${dead.exitSignal}):\n${dead.output.slice(-3_000)}`,
      );
    }
  }

  /** Waits until `check` holds, failing early (with the workers' logs) if a worker dies. */
  async function waitUntil<T>(
    check: () => Promise<T | null | undefined | false> | T | null | undefined | false,
    what: string,
    timeout: number,
  ): Promise<T> {
    let died: Error | null = null;
    const found = await until(
      async () => {
        try {
          alive();
        } catch (error) {
          died = error as Error;
          return true;
        }
        return check();
      },
      what,
      timeout,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${run.tails()}`);
    });
    if (died) throw died;
    return found as T;
  }

  /** The job once it has ended (succeeded, failed or cancelled). */
  function ended(id: number, timeout: number): Promise<JobEntity> {
    return waitUntil(
      async () => {
        const job = await run.jobs.get(id);
        return job && ENDED.includes(job.status) ? job : null;
      },
      `job ${id} to end`,
      timeout,
    );
  }

  /** Lets the jobs held at gate `name` end, in every process; returns when (CLOCK_MONOTONIC). */
  function open(name: string): number {
    const at = mono();
    writeFileSync(join(gates, name), '');
    return at;
  }

  /** Rows of a kind (one of the worker's constant names), per status and attempts. */
  async function outcomes(
    kind: string,
  ): Promise<Array<{ status: string; attempts: number; n: number }>> {
    const rows: Array<{ status: string; attempts: number | string; n: number | string }> =
      await run.source.query(
        `SELECT status, attempts, COUNT(*) AS n FROM nest_jobs WHERE kind = '${kind}'
          GROUP BY status, attempts ORDER BY status, attempts`,
      );
    return rows.map((row) => ({
      status: row.status,
      attempts: Number(row.attempts),
      n: Number(row.n),
    }));
  }

  function figures(scenario: string, values: Record<string, unknown>): void {
    process.stdout.write(
      `[flows figures] ${JSON.stringify({ scenario, backend: backend.name, processes, ...values })}\n`,
    );
  }

  it(`makes the parent of ${CHILDREN} children ending at the same moment on ${processes} processes due exactly once`, async () => {
    const enqueuedAt = mono();
    const flow = await run.jobs.enqueueFlow({
      kind: 'flows.parent',
      data: {},
      children: Array.from({ length: CHILDREN }, (_, n) => ({
        kind: 'flows.child',
        data: { n, gate: 'children' },
      })),
    });
    parentId = flow.job.id;
    const childIds = flow.children.map((child) => child.job.id);
    expect(childIds).toHaveLength(CHILDREN);

    // Every child holds a slot, in whichever process claimed it.
    await waitUntil(
      () => of('flows.child', 'start').length >= CHILDREN,
      `all ${CHILDREN} children to start`,
      120_000,
    );
    const held = of('flows.child', 'start');
    expect(held).toHaveLength(CHILDREN);
    expect(of('flows.parent', 'start')).toHaveLength(0);
    expect(await run.jobs.get(parentId)).toMatchObject({
      status: 'pending',
      dependenciesLeft: CHILDREN,
    });

    const opened = open('children');
    // The parent once it has ended; or, once every edge is resolved, still waiting with deps_left
    // above 0: ends that were lost, and it would wait for ever.
    const parent = await waitUntil(
      async () => {
        const job = await run.jobs.get(parentId);
        if (job && ENDED.includes(job.status)) return job;
        const [{ n }]: Array<{ n: number | string }> = await run.source.query(
          'SELECT COUNT(*) AS n FROM nest_job_deps WHERE resolved = FALSE',
        );
        if (Number(n) > 0) return null;
        const stuck = await run.jobs.get(parentId);
        return stuck?.status === 'pending' && stuck.dependenciesLeft !== 0 ? stuck : null;
      },
      `the parent, job ${parentId}, to end`,
      120_000,
    );

    const childEnds = of('flows.child', 'end').map((record) => record.mono);
    const parentStarts = of('flows.parent', 'start');
    const lastChildEnd = Math.max(...childEnds);
    figures(`flow-${CHILDREN}`, {
      concurrency: workerJobs.concurrency,
      childrenHeldPerProcess: Object.fromEntries(
        run.workers.map((worker) => [
          worker.name,
          held.filter((record) => record.worker === worker.name).length,
        ]),
      ),
      childEndsSpreadMs: Math.round(lastChildEnd - Math.min(...childEnds)),
      msFromGateToLastChildEnd: Math.round(lastChildEnd - opened),
      parentStarts: parentStarts.length,
      msFromLastChildEndToParentStart: parentStarts.length
        ? Math.round(parentStarts[0].mono - lastChildEnd)
        : null,
      seconds: Number(((mono() - enqueuedAt) / 1_000).toFixed(1)),
    });

    // The parent ran once, after every child had ended, and saw them all succeeded.
    expect(parent).toMatchObject({ status: 'succeeded', attempts: 1, dependenciesLeft: 0 });
    expect(parentStarts).toHaveLength(1);
    expect(parentStarts[0].mono).toBeGreaterThan(lastChildEnd);
    expect(
      of('flows.parent', 'end').map(({ dependencies, succeeded }) => ({ dependencies, succeeded })),
    ).toEqual([{ dependencies: CHILDREN, succeeded: CHILDREN }]);
    // Every child ran once, to its end, and succeeded at its first attempt.
    const children = tally(childIds, await run.rows(), records());
    expect({ lost: children.lost, twice: [...children.twice.keys()], runs: children.runs }).toEqual(
      {
        lost: [],
        twice: [],
        runs: CHILDREN,
      },
    );
    expect(await outcomes('flows.child')).toEqual([
      { status: 'succeeded', attempts: 1, n: CHILDREN },
    ]);
    // Every edge resolved once: deps_left went down by exactly the children.
    const edges: Array<{ resolved: unknown; n: number | string }> = await run.source.query(
      `SELECT resolved, COUNT(*) AS n FROM nest_job_deps GROUP BY resolved`,
    );
    expect(
      edges.map((row) => ({ resolved: Boolean(Number(row.resolved)), n: Number(row.n) })),
    ).toEqual([{ resolved: true, n: CHILDREN }]);
  }, 240_000);

  it(`runs the callback of a batch of ${BATCH.toLocaleString('en')} jobs on ${processes} processes exactly once, with its counts`, async () => {
    const enqueuedAt = mono();
    const batch = await run.jobs.enqueueBatch(
      Array.from({ length: BATCH }, (_, n) => ({
        kind: 'flows.item',
        data: n < BATCH - HELD ? { n } : { n, gate: 'batch' },
      })),
      { onComplete: { kind: 'flows.batchDone', data: { tag: 'x' } } },
    );
    const enqueueSeconds = (mono() - enqueuedAt) / 1_000;
    expect(batch.jobs).toHaveLength(BATCH);
    const held = new Set(batch.jobs.slice(BATCH - HELD).map((job) => job.id));

    // The others have ended; the last ones hold their slots, in whichever process claimed them.
    await waitUntil(
      () =>
        of('flows.item', 'end').length >= BATCH - HELD &&
        of('flows.item', 'start').filter((record) => held.has(record.job!)).length >= HELD,
      `${BATCH - HELD} jobs of the batch to end and ${HELD} to start`,
      180_000,
    );
    const heldStarts = of('flows.item', 'start').filter((record) => held.has(record.job!));
    expect(heldStarts).toHaveLength(HELD);
    expect(of('flows.item', 'end').filter((record) => held.has(record.job!))).toHaveLength(0);
    // A handler's end is recorded before its outcome is written (the writes lag under load): wait
    // for the outcomes of the others, then the batch is all but its held jobs, and not finished.
    const before = await waitUntil(
      async () => {
        const state = await run.jobs.batch(batch.id);
        return state && state.succeeded >= BATCH - HELD ? state : null;
      },
      `the outcomes of the ${BATCH - HELD} jobs that ended`,
      120_000,
    );
    expect(before).toMatchObject({
      running: HELD,
      succeeded: BATCH - HELD,
      finishedAt: null,
      callbackJobId: null,
    });
    const opened = open('batch');

    const finished = await waitUntil(
      async () => {
        const state = await run.jobs.batch(batch.id);
        return state?.callbackJobId ? state : null;
      },
      `batch ${batch.id} to finish`,
      180_000,
    );
    callbackId = finished.callbackJobId!;
    const callback = await ended(callbackId, 60_000);

    const itemEnds = of('flows.item', 'end');
    const heldEnds = itemEnds
      .filter((record) => held.has(record.job!))
      .map((record) => record.mono);
    const callbackStarts = of('flows.batchDone', 'start');
    const lastItemEnd = Math.max(...itemEnds.map((record) => record.mono));
    figures(`batch-${BATCH}`, {
      concurrency: workerJobs.concurrency,
      jobsPerProcess: Object.fromEntries(
        run.workers.map((worker) => [
          worker.name,
          itemEnds.filter((record) => record.worker === worker.name).length,
        ]),
      ),
      lastHeldPerProcess: Object.fromEntries(
        run.workers.map((worker) => [
          worker.name,
          heldStarts.filter((record) => record.worker === worker.name).length,
        ]),
      ),
      lastEndsSpreadMs: Math.round(Math.max(...heldEnds) - Math.min(...heldEnds)),
      msFromGateToLastJobEnd: Math.round(lastItemEnd - opened),
      enqueueSeconds: Number(enqueueSeconds.toFixed(1)),
      callbackRuns: callbackStarts.length,
      msFromLastJobEndToCallbackStart: callbackStarts.length
        ? Math.round(callbackStarts[0].mono - lastItemEnd)
        : null,
      seconds: Number(((mono() - enqueuedAt) / 1_000).toFixed(1)),
    });

    // The callback ran once, after the last job ended, with the batch's counts and its own data.
    expect(callbackStarts).toHaveLength(1);
    expect(callbackStarts[0].job).toBe(callbackId);
    expect(callbackStarts[0].mono).toBeGreaterThan(lastItemEnd);
    expect(callbackStarts[0].data).toEqual({
      tag: 'x',
      batch: { id: batch.id, total: BATCH, succeeded: BATCH, failed: 0, cancelled: 0 },
    });
    expect(callback).toMatchObject({ kind: 'flows.batchDone', status: 'succeeded', attempts: 1 });
    expect(await outcomes('flows.batchDone')).toEqual([{ status: 'succeeded', attempts: 1, n: 1 }]);
    expect(await run.jobs.batch(batch.id)).toEqual({
      id: batch.id,
      total: BATCH,
      pending: 0,
      running: 0,
      succeeded: BATCH,
      failed: 0,
      cancelled: 0,
      createdAt: expect.any(Date),
      finishedAt: expect.any(Date),
      callbackJobId: callbackId,
    });
    // Every job of the batch ran once, to its end, and succeeded at its first attempt.
    const items = tally(
      batch.jobs.map((job) => job.id),
      await run.rows(),
      records(),
    );
    expect({ lost: items.lost.length, twice: items.twice.size, runs: items.runs }).toEqual({
      lost: 0,
      twice: 0,
      runs: BATCH,
    });
    expect(await outcomes('flows.item')).toEqual([{ status: 'succeeded', attempts: 1, n: BATCH }]);
  }, 240_000);

  it('has run the parent and the callback once still when every process has stopped', async () => {
    expect(parentId).toBeGreaterThan(0);
    expect(callbackId).toBeGreaterThan(0);
    // SIGTERM: each process finishes what it runs and writes and settles its outcomes, then exits.
    await Promise.all(
      run.workers.map(async (worker) => {
        worker.kill('SIGTERM');
        await worker.exited;
      }),
    );
    expect(of('flows.parent', 'start').map((record) => record.job)).toEqual([parentId]);
    expect(of('flows.batchDone', 'start').map((record) => record.job)).toEqual([callbackId]);
    expect(await outcomes('flows.parent')).toEqual([{ status: 'succeeded', attempts: 1, n: 1 }]);
    expect(await outcomes('flows.batchDone')).toEqual([{ status: 'succeeded', attempts: 1, n: 1 }]);
    expect((await run.jobs.get(parentId))?.dependenciesLeft).toBe(0);
  }, 60_000);
});
