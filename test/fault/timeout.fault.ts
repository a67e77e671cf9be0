/**
 * Timeouts: `@JobKind('fault.timed', { timeout })` aborts the handler's AbortSignal at the deadline,
 * records a timeout failure and frees the concurrency slot, whether or not the handler listens.
 * A handler stuck in synchronous code (no timer can fire) cannot hold its job past the lease:
 * another replica claims it again once the lease runs out.
 */
import {
  FaultRun,
  describeServers,
  freshServerDatabase,
  jobsNamed,
  reportFigures,
  until,
} from './harness.js';

const TIMEOUT = 500;
const LEASE = 2_000;
const LEASE_MOVED_ON = /Job (\d+) finished here, but its lease had moved on/;

describeServers('timeouts and stuck handlers', (backend) => {
  let run: FaultRun | undefined;

  afterEach(async () => {
    await run?.close();
    run = undefined;
  });

  it('fails a run at its timeout, aborts its signal and frees its slot, even if the handler ignores the signal', async () => {
    run = await FaultRun.open('timeout', await freshServerDatabase(backend.name, backend.url));
    await run.start('w0', {
      jobs: { concurrency: 2, pollInterval: 100, lease: LEASE },
      timeout: TIMEOUT,
    });
    const [listens] = await run.jobs
      .enqueueMany([{ kind: 'fault.timed', data: { ms: 600_000 } }])
      .then((jobs) => jobs.map((j) => j.id));
    const [ignores] = await run.jobs
      .enqueueMany([{ kind: 'fault.timed', data: { ms: 600_000, ignoreSignal: true } }])
      .then((jobs) => jobs.map((j) => j.id));
    await until(
      () => run!.records().filter((r) => r.e === 'start').length === 2,
      'both slots to be taken',
      30_000,
    );
    // Both slots are held by handlers that will not end on their own for ten minutes.
    const after = await run.enqueueWork(4, { ms: 10 });

    await until(
      async () => {
        const rows = await run!.rows();
        return rows.every((row) => row.status === 'failed' || row.status === 'succeeded') && rows;
      },
      'the timed-out jobs to fail and the next ones to succeed',
      60_000,
    );
    const rows = new Map((await run.rows()).map((row) => [row.id, row]));
    const records = run.records();
    reportFigures('timeout', backend.name, {
      timeout: TIMEOUT,
      statuses: Object.fromEntries([...rows.values()].map((row) => [row.id, row.status])),
    });
    for (const id of [listens, ignores]) {
      expect(rows.get(id)).toMatchObject({ status: 'failed', attempts: 1, lockedBy: null });
      expect(rows.get(id)!.lastError).toContain(`${TIMEOUT} ms`);
    }
    expect(records.some((r) => r.e === 'aborted' && r.job === listens)).toBe(true);
    // The handler that ignores its signal is still running, yet its slot went to the next jobs.
    expect(records.some((r) => r.e === 'end' && r.job === ignores)).toBe(false);
    for (const id of after) expect(rows.get(id)!.status).toBe('succeeded');
  });

  it('lets another replica take a job whose handler blocks its process past the lease', async () => {
    run = await FaultRun.open('stuck', await freshServerDatabase(backend.name, backend.url));
    const workers = await run.startMany(2, {
      jobs: { concurrency: 2, pollInterval: 100, lease: LEASE },
    });
    // Its first run spins for 4 leases without yielding: no renewal, no timer in that process.
    const [stuck] = await run.enqueueWork(1, { ms: 4 * LEASE, blockFirst: true });
    await run.waitForSucceeded(1, 60_000);
    // Wait for the stuck process to come back and try to write its outcome.
    const first = await until(
      () => run!.records().find((r) => r.e === 'end' && r.job === stuck && r.attempt === 1),
      'the stuck handler to end',
      60_000,
    );
    const blocked = workers.find((w) => w.name === first.worker)!;
    await until(
      () => jobsNamed(blocked, LEASE_MOVED_ON).has(stuck),
      'the stuck replica to find its lease gone',
      30_000,
    );

    const records = run.records().filter((r) => r.job === stuck);
    const second = records.find((r) => r.e === 'start' && r.attempt === 2)!;
    const row = (await run.rows()).find((r) => r.id === stuck)!;
    reportFigures('stuck-handler', backend.name, {
      lease: LEASE,
      blockedMs: 4 * LEASE,
      secondRunStartedBeforeFirstEndedByMs: first.t - second.t,
    });
    expect(row).toMatchObject({ status: 'succeeded', attempts: 2, lockedBy: null });
    expect(row.logs).toContain('lease expired');
    expect(second.worker).not.toBe(first.worker);
    // The job did not wait for the stuck handler: it ran again while the first run was still spinning.
    expect(second.t).toBeLessThan(first.t);
  });
});
