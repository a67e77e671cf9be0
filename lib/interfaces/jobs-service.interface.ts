import type { KindLimits } from '../limits/kind-limits.js';
import type { EntityManager } from 'typeorm';
import type { JobEntity } from '../entities/job.entity.js';
import type { AnyEnqueueSpec, EnqueueOptions, EnqueueSpec } from './enqueue-options.interface.js';
import type { JobStatus } from './job-context.interface.js';

/** Filters of `JobsService.list()`. */
export interface ListJobsFilter {
  status?: JobStatus | JobStatus[];
  kind?: string;
  queue?: string;
  periodic?: boolean;
  active?: boolean;
  failed?: boolean;
  /** Newest first (default) or oldest first. */
  order?: 'newest' | 'oldest';
  /** Keyset pagination: only jobs after this id in the chosen order. */
  after?: number;
  /** At most this many jobs. Default 100, at most 1000. */
  limit?: number;
}

/** What `runPending()` did. */
export interface RunPendingSummary {
  ran: number;
  succeeded: number;
  /** Runs that threw (including those that will be retried). */
  failed: number;
  snoozed: number;
  /** Runs still going when `runPending` returned at its time bound; they finish in the background. */
  unfinished: number;
}

/** Options of `JobsService.runPending()`. */
export interface RunPendingOptions {
  /**
   * Return after this many ms at the latest. Default: the module's `timeout` (or 30 minutes when
   * that is 0).
   */
  timeout?: number;
}

/** A job kind as stored, with whether this instance has its handler. */
export interface JobKindInfo {
  id: number;
  name: string;
  created: Date;
  modified: Date;
  /** A handler for this kind is registered in this process. */
  resolves: boolean;
  /** When an instance whose runner handles this kind last said so; null if none ever did. */
  handledAt: Date | null;
  /**
   * Some running instance handles this kind: one said so within the last HANDLER_STALE_MS (5
   * minutes; runners say it at start and about once a minute). False for a kind whose handler was
   * removed from the code, or that no worker has run yet: its pending jobs wait.
   */
  handled: boolean;
  /** The cluster-wide limits its code declares (recorded at startup), or null. */
  limits: KindLimits | null;
}

/** A kind with pending jobs that no running instance handles (see `JobsService.unhandledKinds`). */
export interface UnhandledKind {
  kind: string;
  pending: number;
  handledAt: Date | null;
}

/** What the runner of this instance reports to health checks. */
export interface RunnerStatus {
  enabled: boolean;
  stopping: boolean;
  lastPollAt: number | null;
  running: number;
  claimed: number;
  pollInterval: number;
}

/** Options of `JobsService.waitFor()`. */
export interface WaitOptions {
  /**
   * Stop waiting after this long (ms, or a duration such as '30s', '5m'): the wait rejects with
   * JobWaitTimeoutError and the job goes on. `0`: no limit. Default: the module's `timeout` (30
   * minutes unless set), or 30 minutes when that is 0, so a wait never hangs for ever unasked.
   */
  timeout?: number | string;
}

/**
 * Options of `JobsService.enqueueAndWait()`: those of `enqueue()` but `manager`, with `timeout`
 * bounding the wait (as in `waitFor()`); the run's own limit, `enqueue()`'s `timeout`, is `runTimeout`.
 */
export interface EnqueueAndWaitOptions extends Omit<EnqueueOptions, 'manager' | 'timeout'> {
  /** `waitFor()`'s `timeout`: stop waiting after this long (the job goes on). */
  timeout?: number | string;
  /** The run's timeout, as `enqueue()`'s `timeout` (ms, `0` for none; default the kind's). */
  runTimeout?: number;
}

/** A queue, as `JobsService.queues()` gives it. */
export interface JobQueueInfo {
  name: string;
  /** No instance starts its jobs (`pauseQueue`); running ones finish. */
  paused: boolean;
  /** Its jobs per status. */
  counts: Record<JobStatus, number>;
}

/** One job of `enqueueFlow()`: a job and the jobs it waits on (its children), nested as deep as needed. */
export interface FlowSpec<T = unknown> extends Omit<
  EnqueueSpec<T>,
  'dependsOn' | 'unique' | 'periodic' | 'interval' | 'every'
> {
  /** Jobs that run before this one; it runs once they have all ended (see `onDependencyFailure`). */
  children?: AnyFlowSpec[];
}

/** A flow spec of any kind (children of a flow may be of kinds with other payloads). */
export type AnyFlowSpec = Omit<FlowSpec, 'kind'> & { kind: string | { readonly name: string } };

/** What `enqueueFlow()` created: the job of a spec, and what its children created. */
export interface JobFlow<T = unknown> {
  job: JobEntity<T>;
  children: JobFlow[];
}

/** What `enqueueBatch()` created. */
export interface JobBatchHandle {
  id: number;
  jobs: JobEntity[];
}

/** A batch, as `batch(id)` reads it: its jobs per status, and when the last of them ended. */
export interface JobBatch {
  id: number;
  total: number;
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  createdAt: Date;
  /** When its last job ended (its callback was enqueued then); null while some have not. */
  finishedAt: Date | null;
  /** The callback job `onComplete` made, once the batch has finished. */
  callbackJobId: number | null;
}

export interface EnqueueBatchOptions {
  /**
   * A job enqueued once, exactly, when every job of the batch has ended (succeeded or not). Its
   * data (an object) gets `batch`: `{ id, total, succeeded, failed, cancelled }`.
   */
  onComplete?: AnyEnqueueSpec;
  /** Create the batch in this transaction (it exists only if it commits). */
  manager?: EntityManager;
}

export interface CancelOptions {
  /** Also cancel the pending jobs this one waits on (a flow's children), all the way down. */
  children?: boolean;
}
