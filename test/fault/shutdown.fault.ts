/**
 * Graceful shutdown: SIGTERM to a replica that called app.enableShutdownHooks() runs app.close().
 * Handlers that end within `shutdownTimeout` finish and are recorded; the others are aborted and
 * released at once (not after their lease), so another replica runs them; nothing stays locked.
 */
import { FaultRun, describeServers, freshServerDatabase, reportFigures, until } from './harness.js';

const GRACE = 3_000;
/** Far longer than the test may wait: a job that waited for its lease would time the test out. */
const LEASE = 120_000;

describeServers('graceful shutdown with app.close()', (backend) => {
  let run: FaultRun | undefined;

  afterEach(async () => {
    await run?.close();
    run = undefined;
  });

  it('lets short handlers finish, aborts and releases long ones at once, and leaves nothing locked', async () => {
    run = await FaultRun.open('shutdown', await freshServerDatabase(backend.name, backend.url));
    const stopping = await run.start('stopping', {
      jobs: { concurrency: 4, pollInterval: 100, lease: LEASE, shutdownTimeout: GRACE },
    });
    const [short1, short2] = await run.enqueueWork(2, { ms: GRACE / 2 });
    const [respectsSignal] = await run.enqueueWork(1, { ms: 600_000 });
    const [ignoresSignal] = await run.enqueueWork(1, { ms: 600_000, ignoreSignal: true });
    const all = [short1, short2, respectsSignal, ignoresSignal];
    await until(
      () => all.every((id) => run!.records().some((r) => r.e === 'start' && r.job === id)),
      'the four handlers to start',
      30_000,
    );

    const signalledAt = Date.now();
    stopping.kill('SIGTERM');
    await stopping.exited;
    const exitedAt = Date.now();
    const records = run.records();
    const rows = new Map((await run.rows()).map((row) => [row.id, row]));

    reportFigures('graceful-shutdown', backend.name, {
      grace: GRACE,
      lease: LEASE,
      shutdownMs: exitedAt - signalledAt,
      statuses: Object.fromEntries(all.map((id) => [id, rows.get(id)!.status])),
    });
    // It closed through the shutdown hooks, not by dying.
    expect(records.some((r) => r.worker === 'stopping' && r.e === 'closed')).toBe(true);
    // The short handlers ended and their outcome was written before the process exited.
    for (const id of [short1, short2]) {
      expect(records.some((r) => r.e === 'end' && r.job === id)).toBe(true);
      expect(rows.get(id)!.status).toBe('succeeded');
    }
    // The long ones were aborted (the one that listens saw its signal) and released: due now,
    // unlocked, the interrupted run not counted.
    expect(records.some((r) => r.e === 'aborted' && r.job === respectsSignal)).toBe(true);
    for (const id of [respectsSignal, ignoresSignal]) {
      const row = rows.get(id)!;
      expect(row).toMatchObject({ status: 'pending', lockedBy: null, attempts: 0 });
      expect(row.runAt).toBeLessThanOrEqual(exitedAt);
      expect(row.logs).toContain('released unfinished at shutdown');
    }
    expect([...rows.values()].filter((row) => row.lockedBy !== null)).toEqual([]);

    // Another replica runs them now, long before their lease would have run out.
    await run.start('next', { jobs: { pollInterval: 100, lease: LEASE }, maxHandlerMs: 10 });
    await run.waitForSucceeded(all.length, LEASE / 2);
  });
});
