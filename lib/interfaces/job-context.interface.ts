import type { EntityManager } from 'typeorm';

/** What a handler returns to be run again later without the run counting as a failure. */
export class JobSnooze {
  constructor(
    readonly delay: number,
    readonly reason?: string,
  ) {}
}

/** The argument of a `@JobKind()` handler: one run of one job. */
export interface JobContext<T = unknown> {
  readonly id: number;
  readonly kind: string;
  readonly queue: string;
  /** The group given at enqueue (`{ group }`), or null. */
  readonly group: string | null;
  readonly data: T;
  /** This run's number, from 1. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /**
   * Aborts when the run must stop: its job was cancelled (reason: JobCancelledError), its timeout
   * passed (JobTimeoutError), this instance lost its lease (JobLeaseLostError), or shutdown's grace
   * ended (JobsShutdownError). Whatever the handler returns after that is dropped.
   */
  readonly signal: AbortSignal;
  /**
   * Reports how far the run got: a number (by convention a percentage) or any JSON value, readable
   * as `JobEntity.progress` and shown by the dashboard. Writes are throttled to about one a second
   * per job; the last value is always stored before the run's outcome. Rejects with
   * InvalidJobProgressError for a value JSON cannot hold; a failed write is logged, never thrown.
   */
  progress(value: unknown): Promise<void>;
  /**
   * Runs `work` in a transaction of the module's data source that also stores this job's success,
   * checked against this instance's lease: the app's writes and the job's end commit together or
   * not at all, so their effects happen exactly once even through crashes. The job's result is what
   * `work` returns. Once per run, before the handler returns (else JobTransactionError); when the
   * lease is gone at commit it rolls back and throws JobLeaseLostError.
   */
  transaction<R>(work: (manager: EntityManager) => Promise<R>): Promise<R>;
  /**
   * The jobs this one waited on (`dependsOn`, a flow's children), by id: each one's kind, how it
   * ended and its result ('deleted' when its row is gone). Empty for a job without dependencies.
   */
  dependencies(): Promise<JobDependency[]>;
  /** Append a line to the job's logs (stored with a timestamp when the run ends). */
  log(line: string): void;
  /** Return this to run the job again in `delay` ms; the run is not counted as an attempt or a failure. */
  snooze(delay: number, reason?: string): JobSnooze;
}

/** A job another waited on, as `job.dependencies()` gives it. */
export interface JobDependency {
  id: number;
  /** Null when the job's row is gone. */
  kind: string | null;
  status: JobStatus | 'deleted';
  result: unknown;
}

/**
 * How a job stands. `active` is true while pending, running or paused. Only a schedule's row is
 * ever 'paused' (`pauseSchedule()`); runners claim 'pending' rows only, so it never runs.
 */
export type JobStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'paused';

export const JOB_STATUSES: readonly JobStatus[] = [
  'pending',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'paused',
];
