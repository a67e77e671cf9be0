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
}

/**
 * What a `defineJobKind()` reference carries besides its name: the defaults of its jobs that are
 * decided where a job is enqueued, so an app that enqueues the kind without its handler uses them.
 */
export type JobKindDefaults = Pick<JobKindOptions, 'maxAttempts' | 'queue' | 'priority'>;
