import type { BackoffOption } from './jobs-module-options.interface.js';

/** Options of `@JobKind(name, options)`. */
export interface JobKindOptions {
  /** Attempts before the job stays failed. Default: the module's `maxAttempts`. */
  maxAttempts?: number;
  /** Backoff between attempts. Default: the module's `backoff`. */
  backoff?: BackoffOption;
  /** Milliseconds a run may take; then its AbortSignal fires and the run fails as timed out. */
  timeout?: number;
  /** Queue for jobs of this kind when `enqueue` does not name one. Default `'default'`. */
  queue?: string;
  /** Priority for jobs of this kind when `enqueue` does not give one (lower runs first). Default 0. */
  priority?: number;
  /**
   * Run this kind on a cron schedule, once per occurrence across every instance (e.g. '0 8 * * *').
   * The handler gets `null` data.
   */
  cron?: string;
  /** IANA time zone of `cron` (e.g. 'Europe/Paris'). Default: UTC. */
  timezone?: string;
  /** Run this kind every so often, once per interval across every instance: ms, or '30s', '15m', '1h', '1d'. */
  every?: number | string;
  /**
   * After downtime, occurrences that passed unrun: 'run-once' (default) runs the schedule once, then
   * goes on from now; 'skip' goes straight to the next occurrence.
   */
  missed?: 'run-once' | 'skip';
  /**
   * At most this many jobs of this kind running at once across every instance (the module's
   * `concurrency` still bounds each instance). Enforced by the database; see README, "Flow control".
   */
  concurrency?: number;
  /** At most `limit` jobs of this kind started in any window of `per`, across every instance. */
  rateLimit?: RateLimitOption;
  /**
   * The same limits for each group key on its own (`enqueue(kind, data, { group })`); jobs enqueued
   * without a group are held only by the kind's own limits.
   */
  group?: { concurrency?: number; rateLimit?: RateLimitOption };
}

/** A cluster-wide rate limit: at most `limit` starts in any window of `per` (ms or '1s', '1m', '1h'). */
export interface RateLimitOption {
  limit: number;
  per: number | string;
}

/**
 * What a `defineJobKind()` reference carries besides its name: the defaults of its jobs that are
 * decided where a job is enqueued, so an app that enqueues the kind without its handler uses them.
 */
export type JobKindDefaults = Pick<JobKindOptions, 'maxAttempts' | 'queue' | 'priority'>;
