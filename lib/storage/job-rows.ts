/** Shapes that cross the storage boundary: plain data, no entities, no Nest. Times are epoch ms. */

export interface NewJobRow {
  kind: string;
  kindId: number | null;
  queue: string;
  /** JSON text. */
  data: string;
  periodic: boolean;
  interval: number | null;
  priority: number;
  runAt: number;
  maxAttempts: number;
  created: number;
  uniqueKey: string | null;
  /** A declared schedule, as JSON (schedule rows only). */
  schedule: string | null;
  /** This job's run timeout in ms; absent or null: the kind's. */
  timeout?: number | null;
  /** This job's backoff as JSON text (see ClaimedJob.backoff); absent or null: the kind's. */
  backoff?: string | null;
  /** The group key its kind's per-group limits count by; absent or null: none. */
  group?: string | null;
  /** Some job waits on this one (a flow's child). */
  hasDependents?: boolean;
  /** Dependencies not yet ended (see JobEntity.dependenciesLeft); absent or null: none. */
  dependenciesLeft?: number | null;
  /** The batch it belongs to; absent or null: none. */
  batchId?: number | null;
  /** The W3C trace context of the enqueue (see lib/telemetry/trace-context.ts); absent or null: none. */
  traceContext?: string | null;
}

export interface ClaimRequest {
  owner: string;
  limit: number;
  /** Claim jobs due at or before this moment. */
  now: number;
  leaseUntil: number;
  kinds: string[];
  queues: string[] | null;
  /**
   * The priorities most jobs have (0 and the kinds' defaults): the claim reads each one's due jobs
   * by a range that ends at the first job not yet due (see due-ranges.ts). Default: 0.
   */
  priorities?: readonly number[];
  /**
   * PostgreSQL, outside a transaction: the claim commits without waiting for the WAL flush (the
   * module's `asyncClaimCommit`). Default: false.
   */
  asyncCommit?: boolean;
}

/** A job as a runner holds it: what its handler and the outcome rules need, nothing more. */
export interface ClaimedJob {
  id: number;
  kind: string;
  queue: string;
  /** JSON text. */
  data: string;
  /** Counting this run. */
  attempts: number;
  maxAttempts: number;
  periodic: boolean;
  interval: number | null;
  uniqueKey: string | null;
  schedule: string | null;
  /** When it was due (for a schedule: the occurrence). */
  runAt: number;
  /** The run timeout given at enqueue, in ms; null: the kind's. */
  timeout: number | null;
  /**
   * The backoff given at enqueue, as stored: JSON text of a number (the base of an exponential
   * backoff, in ms) or of `{ "type": "fixed" | "exponential", "delay": ms }`; null: the kind's.
   */
  backoff: string | null;
  /** The group key given at enqueue, or null. */
  group: string | null;
  /** The W3C trace context stored at enqueue (lib/telemetry/), or null. */
  traceContext?: string | null;
}

/**
 * One claim of a job: its id and the attempt it was claimed as (the `attempts` column while it is
 * held). A job is held by an owner *and* a claim: an instance that claims a job again after its
 * lease ran out (reaped meanwhile) holds the new claim, never the old one.
 */
export interface HeldJob {
  id: number;
  attempts: number;
}

/** The claim an update is written for. */
export function claimOf(update: JobUpdate): HeldJob {
  return { id: update.id, attempts: update.heldAttempt };
}

/** The end of one run, written only while `owner` still holds the job, by the same claim. */
export interface JobUpdate {
  id: number;
  owner: string;
  /** The attempt the run held the job as (ClaimedJob.attempts): the claim that may write. */
  heldAttempt: number;
  status: 'pending' | 'succeeded' | 'failed';
  failed: boolean;
  runAt: number;
  attempts: number;
  finishedAt: number | null;
  lastError: string | null;
  /** Text appended to the logs ('' for none). */
  appendLogs: string;
  /** JSON text, or null. */
  result: string | null;
  /** The job has a unique key (ClaimedJob.uniqueKey), which its end must release if it ends. */
  keyed: boolean;
}

/**
 * Which columns a finish statement takes from each update. `success`: a run that succeeded and
 * wrote no log line, at the attempt it was claimed as (nearly every end of a busy queue): only
 * its finish time and result vary, the rest of the outcome is the same for all (4 values a job
 * instead of 10; the statement measured about 40% cheaper on SQLite), and a job without a unique
 * key has no key to release (its statement leaves `active_key` alone). `any`: every other end.
 */
export type FinishShape = 'success' | 'any';

export function finishShapeOf(update: JobUpdate): FinishShape {
  return update.status === 'succeeded' &&
    !update.failed &&
    update.lastError === null &&
    update.appendLogs === '' &&
    update.attempts === update.heldAttempt &&
    !update.keyed
    ? 'success'
    : 'any';
}
