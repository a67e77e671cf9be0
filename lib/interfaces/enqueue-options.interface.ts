import type { EntityManager } from 'typeorm';
import type { JobKindRef } from '../decorators/job-kind.decorator.js';

/** Options of `JobsService.enqueue()`. */
export interface EnqueueOptions {
  /** Run no earlier than this long from now: ms, or a duration such as '30s', '15m', '1h30m', '7d'. */
  delay?: number | string;
  /** Run no earlier than this moment. */
  runAt?: Date;
  /** Lower runs first. Default: the kind's priority, else 0. */
  priority?: number;
  /** Attempts before the job stays failed. Default: the kind's, else the module's. */
  maxAttempts?: number;
  /** Queue name. Default: the kind's queue, else `'default'`. */
  queue?: string;
  /** Keep the job after each success and run it again `interval` ms later. */
  periodic?: boolean;
  /** Milliseconds between runs of a periodic job. Required with `periodic` (or `every`). */
  interval?: number;
  /** The same as `interval`, also as a duration: '30s', '15m', '1h'. */
  every?: number | string;
  /**
   * While an active job has the same key, return it instead of adding another. `true` derives the
   * key from the kind and the data; a string is the key itself (scoped to the kind).
   */
  unique?: boolean | string;
  /**
   * Milliseconds one run of this job may take; then its AbortSignal fires and the run fails as timed
   * out. `0`: no timeout. Default: the kind's `timeout`.
   */
  timeout?: number;
  /** Backoff between this job's attempts. Default: the kind's `backoff`, else the module's. */
  backoff?: number | JobBackoff;
  /**
   * The group this job belongs to (1 to 200 characters, e.g. `account:42`): the key its kind's
   * per-group limits count by (`@JobKind(name, { group: { concurrency, rateLimit } })`).
   */
  group?: string;
  /**
   * Ids of jobs this one waits on (enqueued before it; any status). It stays pending, never due,
   * until each has ended, and runs once all succeeded; see `onDependencyFailure`. An unknown id is
   * refused (JobDependencyNotFoundError) and nothing is written. Not with `unique`, `periodic`,
   * `delay` or `runAt`.
   */
  dependsOn?: number[];
  /**
   * When a dependency fails for good or is cancelled: `'cancel'` (default) cancels this job, with a
   * reason naming the dependency; `'run'` runs it anyway once all have ended (it reads how each
   * ended with `job.dependencies()`).
   */
  onDependencyFailure?: 'cancel' | 'run';
  /**
   * Enqueue through this EntityManager, e.g. the one of a running transaction: the job then exists
   * only if that transaction commits.
   */
  manager?: EntityManager;
}

/**
 * A backoff one job carries (stored with it, so no function): `fixed` waits `delay` ms before every
 * retry, `exponential` waits `delay`, then twice that, four times... (a plain number is the same as
 * `{ type: 'exponential', delay: number }`). Never longer than the module's `maxBackoff`.
 */
export interface JobBackoff {
  type: 'fixed' | 'exponential';
  delay: number;
}

/** One job of `JobsService.enqueueMany()`. */
export interface EnqueueSpec<T = unknown> extends Omit<EnqueueOptions, 'manager'> {
  /** A kind's name, or its `defineJobKind()` reference. */
  kind: string | JobKindRef<T>;
  data?: T;
}

/** What `enqueueMany()` takes: specs of any kinds (build typed ones with `jobSpec`). */
export type AnyEnqueueSpec = Omit<EnqueueSpec, 'kind'> & {
  kind: string | { readonly name: string };
};

/** One job of `enqueueMany()`, its payload checked against its kind's reference. */
export function jobSpec<T>(
  kind: JobKindRef<T>,
  data: T,
  options: Omit<EnqueueOptions, 'manager'> = {},
): EnqueueSpec<T> {
  return { ...options, kind, data };
}
