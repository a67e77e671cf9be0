import type { JobsEvents, JobEventName } from '../events/jobs.events.js';
import { messages } from '../jobs.messages.js';
import type { JobsRegistry } from '../jobs.registry.js';
import type { ClaimedJob } from '../storage/job-rows.js';
import { summarizeError } from './error-text.js';
import {
  RunAbort,
  runJob,
  type RunOutcome,
  type RunSettings,
  type RunVerdict,
} from './job-execution.js';
import type { WrittenRun } from './outcome-writer.js';
import type { ProgressWriter } from './progress-writer.js';
import { JobCancelledError, JobLeaseLostError } from '../errors/jobs.errors.js';
import { JobsTelemetry, type RunTelemetry } from '../telemetry/jobs.telemetry.js';

interface RunningJob {
  job: ClaimedJob;
  controller: RunAbort;
  done: Promise<RunOutcome>;
  /** Set while its last progress is stored, before its outcome is handed on. */
  settling?: Promise<void>;
  /** Its `job.transaction()` committed: the job has ended, whatever the handler does now. */
  committed?: boolean;
  /** Its span and clock (lib/telemetry/); null when nothing is recorded. */
  telemetry: RunTelemetry | null;
}

const EVENT_OF: Record<RunVerdict, JobEventName> = {
  succeeded: 'succeeded',
  rescheduled: 'succeeded',
  snoozed: 'snoozed',
  retrying: 'failed',
  failed: 'dead',
};

interface Log {
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
  /** Whether a debug line would be printed: one per run is made only then. */
  debugEnabled?(): boolean;
}

export interface RunningJobsHooks {
  /** A run ended while still ours: its outcome is to be written. */
  outcome(job: ClaimedJob, outcome: RunOutcome): void;
  /** A run was abandoned: its slot is free. */
  freed(): void;
}

/**
 * The runs in progress in this instance: starts them (with their `started` event), hands each
 * outcome to `hooks.outcome` while the run is still ours (its last progress stored first),
 * abandons those that are not ours any more (`abandon`), and at shutdown waits for them, then
 * aborts and gives up the rest. It also tells listeners of outcomes once they are stored
 * (`announce`), so a job's run events come from one place.
 */
export class RunningJobs {
  private readonly runs = new Map<number, RunningJob>();

  constructor(
    private readonly registry: JobsRegistry,
    private readonly events: JobsEvents,
    private readonly settings: RunSettings,
    private readonly progress: ProgressWriter,
    private readonly log: Log,
    private readonly hooks: RunningJobsHooks,
    private readonly telemetry: JobsTelemetry = JobsTelemetry.off,
  ) {}

  get size(): number {
    return this.runs.size;
  }

  ids(): number[] {
    return [...this.runs.keys()];
  }

  /** Every claim being run, whether or not its job is still held. */
  claims(): ClaimedJob[] {
    return [...this.runs.values()].map((entry) => entry.job);
  }

  /** The claims being run whose jobs are still held (not ended by their own transaction). */
  jobs(): ClaimedJob[] {
    const jobs: ClaimedJob[] = [];
    for (const entry of this.runs.values()) if (!entry.committed) jobs.push(entry.job);
    return jobs;
  }

  /** The run's `job.transaction()` wrote its end (or, `false`, failed to): its lease is no longer kept or checked. */
  committed(job: ClaimedJob, yes = true): void {
    const entry = this.runs.get(job.id);
    if (entry?.job === job) entry.committed = yes;
  }

  /**
   * Stops these runs (by their claim) at once: each one's signal aborts with its reason (one log
   * line), its slot is freed, and whatever it returns later is dropped.
   */
  abandon(lost: Map<ClaimedJob, Error>): void {
    let freed = false;
    for (const [job, reason] of lost) freed = this.stopRun(job, reason) || freed;
    if (freed) this.hooks.freed();
  }

  /** Stops one run (see `abandon`); false if it is not running here or its end is committed. */
  private stopRun(job: ClaimedJob, reason: Error): boolean {
    const entry = this.runs.get(job.id);
    // A run whose own transaction committed its end is not lost: a check read it ended.
    if (entry?.job !== job || entry.committed) return false;
    this.runs.delete(job.id);
    this.progress.forget(job.id);
    entry.controller.abort(reason);
    entry.telemetry?.stopped(
      reason instanceof JobCancelledError ? 'cancelled' : 'lease lost',
      reason,
    );
    this.log.warn(messages.runAbandoned(job.id, job.kind, reason.message));
    return true;
  }

  /** Starts a run; its promise never rejects (a fault of the runner itself is logged). */
  start(job: ClaimedJob): Promise<RunOutcome | undefined> {
    // This instance claimed the job again while an older run of it goes on here (its lease ran out
    // and it was reaped meanwhile): that run lost the job; it stops before the new one starts.
    // (Its slot goes to the new run: no `freed`.)
    const older = this.runs.get(job.id);
    if (older) this.stopRun(older.job, superseded(older.job));
    const controller = new RunAbort();
    const kind = this.registry.get(job.kind);
    // The handler runs inside the run's span, when there is one (lib/telemetry/).
    const telemetry = this.telemetry.run(job);
    const done = telemetry
      ? telemetry.within(() => runJob(job, kind, controller, this.settings))
      : runJob(job, kind, controller, this.settings);
    const entry: RunningJob = { job, controller, done, telemetry };
    this.runs.set(job.id, entry);
    if (this.events.active) {
      this.events.emit('started', job, { attempt: job.attempts, data: parseData(job) });
    }
    // No rejection of a run may go unhandled: one would take the whole process down.
    return done.then(
      (outcome) => {
        this.finished(entry, outcome);
        return outcome;
      },
      (error: unknown) => {
        this.log.error(messages.runnerFault(job.id, summarizeError(error)));
        return undefined;
      },
    );
  }

  private finished(entry: RunningJob, outcome: RunOutcome): void {
    // A job abandoned, or released at shutdown, is no longer ours: its late outcome is dropped.
    if (this.runs.get(entry.job.id) !== entry) return;
    entry.telemetry?.ended(outcome);
    if (!outcome.committed && this.progress.has(entry.job.id)) {
      // The last progress reported is stored before the outcome (the run stays ours meanwhile).
      entry.settling = this.progress.settle(entry.job.id).then(() => this.deliver(entry, outcome));
    } else {
      this.deliver(entry, outcome);
    }
  }

  private deliver(entry: RunningJob, outcome: RunOutcome): void {
    if (this.runs.get(entry.job.id) !== entry) return;
    this.runs.delete(entry.job.id);
    this.progress.forget(entry.job.id);
    this.report(entry.job, outcome);
    this.hooks.outcome(entry.job, outcome);
  }

  private report(job: ClaimedJob, outcome: RunOutcome): void {
    const failed = outcome.verdict === 'retrying' || outcome.verdict === 'failed';
    if (!failed && this.log.debugEnabled?.() === false) return;
    const label = `${job.kind} #${job.id} (attempt ${job.attempts}/${job.maxAttempts})`;
    if (failed) {
      const how = outcome.verdict === 'failed' ? 'failed for good' : 'failed, will retry';
      this.log.warn(`${label} ${how}: ${summarizeError(outcome.error)}`);
    } else {
      this.log.debug(`${label} ${outcome.verdict}`);
    }
  }

  /** Tells listeners of outcomes now stored, with the job's data and result. */
  announce(runs: WrittenRun[]): void {
    if (!this.events.active) return;
    for (const { job, outcome } of runs) {
      const { result } = outcome.update;
      this.events.emit(EVENT_OF[outcome.verdict], job, {
        attempt: job.attempts,
        error: outcome.error,
        data: parseData(job),
        ...(result === null ? {} : { result: JSON.parse(result) }),
      });
    }
  }

  /** Waits up to `grace` ms for the runs in progress; aborts the rest (with `reason`) and returns their jobs. */
  async stop(grace: number, reason: Error): Promise<ClaimedJob[]> {
    if (this.runs.size === 0) return [];
    await settledWithin(
      [...this.runs.values()].map((entry) => entry.done.then(() => entry.settling)),
      grace,
    );
    // Let the outcomes that just arrived be recorded before deciding what is left.
    await new Promise((resolve) => setImmediate(resolve));
    const left = [...this.runs.values()];
    this.runs.clear();
    for (const entry of left) {
      this.progress.forget(entry.job.id);
      entry.controller.abort(reason);
      entry.telemetry?.stopped('released at shutdown', reason);
    }
    return left.map((entry) => entry.job);
  }
}

function superseded(job: ClaimedJob): Error {
  return new JobLeaseLostError(job.id, 'its lease ran out and this instance claimed it again');
}

/** The job's data for an event (parsed only when someone listens). */
function parseData(job: ClaimedJob): unknown {
  return JSON.parse(job.data);
}

/**
 * Waits for the promises, at most `timeout` ms; returns each one's value, or undefined for those
 * not settled by then (or rejected).
 */
export async function settledWithin<T>(
  promises: Promise<T>[],
  timeout: number,
): Promise<Array<T | undefined>> {
  const values = new Array<T | undefined>(promises.length);
  const all = Promise.allSettled(
    promises.map((promise, i) => promise.then((value) => (values[i] = value))),
  );
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    all,
    new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, timeout)))),
  ]);
  clearTimeout(timer);
  return [...values];
}
