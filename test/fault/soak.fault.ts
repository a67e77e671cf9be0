/**
 * The larger local run: every fault at once on one throwaway server. Four replicas work through
 * JOBS_FAULT_SIZE jobs; one is killed with SIGKILL (a replacement starts), the database restarts,
 * another is killed, and one is stopped with SIGTERM. Nothing may be lost, and every job run twice
 * must have a reason: it was held by a killed process, or the runner logged that its outcome could
 * not be written. Opt in with JOBS_FAULT_SOAK=1 (e.g. JOBS_FAULT_SIZE=100000); CI skips it.
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
  type ServerName,
  type Worker,
  type WorkerOptions,
} from './harness.js';
import { startThrowaway, throwawayUnavailable, type ThrowawayServer } from './servers.js';

const enabled = process.env.JOBS_FAULT_SOAK === '1';
const NOT_WRITTEN = /The outcome of job (\d+) could not be written/;
const LEASE_MOVED_ON = /Job (\d+) finished here, but its lease had moved on/;

for (const type of ['postgres', 'mysql'] as ServerName[]) {
  const unavailable = enabled ? throwawayUnavailable(type) : 'set JOBS_FAULT_SOAK=1 to run it';
  const title = `soak: ${FAULT_SIZE} jobs through kills and a restart [${type}]`;
  if (unavailable) {
    describe.skip(`${title}: skipped, ${unavailable}`, () => it('is skipped', () => undefined));
    continue;
  }

  describe(title, () => {
    let server: ThrowawayServer | undefined;
    let run: FaultRun | undefined;

    afterEach(async () => {
      await run?.close();
      await server?.stop();
    });

    it(
      'loses nothing, and runs twice only what a kill or an unwritten outcome explains',
      async () => {
        server = await startThrowaway(type);
        run = await FaultRun.open(`soak-${type}`, await freshServerDatabase(type, server.url));
        const options: WorkerOptions = {
          jobs: { concurrency: 10, pollInterval: 200, lease: 5_000, shutdownTimeout: 5_000 },
          handlerMs: 20,
        };
        await run.startMany(4, options);
        const ids = await run.enqueueWork(FAULT_SIZE);
        const ended = () => run!.ended();
        const reach = (share: number) =>
          until(
            () => ended() >= FAULT_SIZE * share,
            `${share * 100}% of the jobs to run`,
            limitFor(FAULT_SIZE),
          );
        const killed: Array<{ worker: Worker; at: number }> = [];
        const kill = async (name: string, replacement: string) => {
          const worker = run!.workers.find((w) => w.name === name)!;
          killed.push({ worker, at: Date.now() });
          worker.kill('SIGKILL');
          await worker.exited;
          await run!.start(replacement, options);
        };

        await reach(0.2);
        await kill('w0', 'w4');
        await reach(0.4);
        const restartedAt = Date.now();
        await server.restart(4_000);
        const downMs = Date.now() - restartedAt;
        await reach(0.6);
        await kill('w1', 'w5');
        await reach(0.8);
        const stopped = run.workers.find((w) => w.name === 'w2')!;
        stopped.kill('SIGTERM');
        await stopped.exited;

        await run.waitForSucceeded(ids.length, limitFor(FAULT_SIZE) * 3);
        const records = run.records();
        const result = tally(ids, await run.rows(), records);
        const becauseKilled = new Set<number>();
        for (const { worker, at } of killed) {
          for (const r of records)
            if (r.worker === worker.name && r.e === 'start' && r.t <= at) becauseKilled.add(r.job!);
        }
        const becauseUnwritten = new Set<number>();
        for (const worker of run.workers) {
          for (const id of jobsNamed(worker, NOT_WRITTEN)) becauseUnwritten.add(id);
          for (const id of jobsNamed(worker, LEASE_MOVED_ON)) becauseUnwritten.add(id);
        }
        const twice = [...result.twice.keys()];
        const unexplained = twice.filter(
          (id) => !becauseKilled.has(id) && !becauseUnwritten.has(id),
        );
        reportFigures('soak', type, {
          jobs: result.jobs,
          lost: result.lost.length,
          runTwice: twice.length,
          runTwiceHeldByAKilledProcess: twice.filter((id) => becauseKilled.has(id)).length,
          runTwiceOutcomeNotWritten: twice.filter(
            (id) => !becauseKilled.has(id) && becauseUnwritten.has(id),
          ).length,
          unexplainedTwice: unexplained.length,
          kills: killed.length,
          sigterms: 1,
          downMs,
          statuses: result.statuses,
        });
        expect(result.lost).toEqual([]);
        expect(result.statuses).toEqual({ succeeded: ids.length });
        expect(unexplained).toEqual([]);
      },
      limitFor(FAULT_SIZE) * 6 + 300_000,
    );
  });
}
