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
  readonly data: T;
  /** This run's number, from 1. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** Fires at the kind's timeout, and when shutdown's grace period ends. */
  readonly signal: AbortSignal;
  /** Append a line to the job's logs (stored with a timestamp when the run ends). */
  log(line: string): void;
  /** Return this to run the job again in `delay` ms; the run is not counted as an attempt or a failure. */
  snooze(delay: number, reason?: string): JobSnooze;
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
