import type { DataSource, EntityManager } from 'typeorm';
import { JobLeaseLostError } from '../errors/jobs.errors.js';
import type { JobStore } from '../storage/job.store.js';
import { isTransient } from '../storage/transient.js';
import type { ClaimedJob } from '../storage/job-rows.js';
import type { RunOutcome, Transact } from './job-execution.js';
import type { RunAbort } from './run-log.js';
import type { ProgressWriter } from './progress-writer.js';

/** How many times a transaction that met a deadlock is run again (its work too) before it fails. */
const DEADLOCK_TRIES = 3;

/**
 * `job.transaction(work)`: runs `work(manager)` in a transaction of the module's data source that
 * also writes the end of the run (its progress first, then the outcome `end` makes of what `work`
 * returned), only while this instance holds the job: if it no longer does (cancelled, reclaimed
 * after a stall, deleted) the transaction rolls back, the app's writes with it, and the handler gets
 * a JobLeaseLostError. A deadlock rolls everything back too; the whole transaction, `work` included,
 * runs again, up to DEADLOCK_TRIES times.
 */
export function transactor(
  dataSource: DataSource,
  store: JobStore,
  progress: ProgressWriter,
  deleteSucceeded: boolean,
  /** The run's end is written (true, just before the COMMIT), or was not after all (false). */
  committed: (job: ClaimedJob, yes: boolean) => void,
): Transact {
  // SQLite: TypeORM drives one connection, on which two transactions would interleave (a BEGIN
  // inside another fails, or one's writes land in the other's): job transactions take turns.
  const turns = store.dialect.name === 'sqlite' ? new Turns() : null;
  return (job, controller, work, end) =>
    turns
      ? turns.run(() => attempt(job, controller, work, end))
      : attempt(job, controller, work, end);

  async function attempt<R>(
    job: ClaimedJob,
    controller: RunAbort,
    work: (manager: EntityManager) => Promise<R>,
    end: (value: R) => RunOutcome,
  ): Promise<{ value: R; outcome: RunOutcome }> {
    for (let tries = 1; ; tries++) {
      try {
        let outcome: RunOutcome | undefined;
        const report = { awaited: [] as number[], linked: [] as number[] };
        const value = await dataSource.transaction(async (manager) => {
          const value = await work(manager);
          // Timed out, cancelled or shutting down meanwhile: the run is over, its writes are not wanted.
          if (controller.aborted) throw controller.reason;
          outcome = end(value);
          await progress.settle(job.id, manager);
          const [held] = await store.finish([outcome.update], deleteSucceeded, {
            manager,
            ...report,
          });
          if (held) {
            // From here its end is written: its lease is no longer renewed nor checked (a check
            // that read the job ended would otherwise take the run for lost).
            committed(job, true);
          } else {
            throw new JobLeaseLostError(
              job.id,
              'at commit it was cancelled, taken by another instance or deleted; the transaction rolled back',
            );
          }
          return value;
        });
        return {
          value,
          outcome: {
            ...outcome!,
            awaited: report.awaited.length > 0,
            linked: report.linked.length > 0,
          },
        };
      } catch (error) {
        committed(job, false);
        if (!isTransient(error) || tries >= DEADLOCK_TRIES) throw error;
      }
    }
  }
}

/** Runs functions one at a time, in the order they came. */
class Turns {
  private last: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.last.then(work, work);
    this.last = turn.catch(() => undefined);
    return turn;
  }
}
