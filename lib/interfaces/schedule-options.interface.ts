import type { JobStatus } from './job-context.interface.js';

/** Options of `JobsService.schedule(key, kind, data, options)`: `cron` or `every`, and the job's. */
export interface ScheduleOptions {
  /** Run on this cron expression, once per occurrence across every instance (e.g. '0 8 * * *'). */
  cron?: string;
  /** IANA time zone of `cron` (e.g. 'Europe/Paris'). Default: UTC. */
  timezone?: string;
  /** Run every so often, once per interval across every instance: ms, or '30s', '15m', '1h', '1d'. */
  every?: number | string;
  /** After downtime: run a missed occurrence once (default), or skip to the next. */
  missed?: 'run-once' | 'skip';
  /** Default: the kind's queue. */
  queue?: string;
  /** Default: the kind's priority. */
  priority?: number;
  /** Attempts of one occurrence. Default: the kind's. */
  maxAttempts?: number;
}

/** A schedule as `JobsService.schedules()` lists it: declared on `@JobKind`, or made at runtime. */
export interface JobSchedule<T = unknown> {
  /** The key given to `schedule()`; for a schedule declared on `@JobKind`, the kind's name. */
  key: string;
  /** Declared on `@JobKind` (changed in code), or made by `schedule()` (changed through the API). */
  declared: boolean;
  kind: string;
  /** The id of the schedule's row in nest_jobs (one row per schedule; each run updates it). */
  id: number;
  cron: string | null;
  timezone: string | null;
  /** Milliseconds between runs, for `every`. */
  every: number | null;
  missed: 'run-once' | 'skip';
  /** The data each run gets (null for declared schedules). */
  data: T;
  queue: string;
  priority: number;
  maxAttempts: number;
  /** Paused through `pauseSchedule()`: it does not run until resumed. */
  paused: boolean;
  /** 'pending' between runs, 'running' during one, 'paused'. */
  status: JobStatus;
  /** When it runs next; null while paused. */
  nextRunAt: Date | null;
  lastRunAt: Date | null;
  /** How the last run ended; 'running' while a run is in progress; null before the first. */
  lastOutcome: 'succeeded' | 'failed' | 'running' | null;
  lastError: string | null;
}

/** Filters of `JobsService.schedules()`. */
export interface ListSchedulesFilter {
  kind?: string;
  /** Keyset pagination: only schedules whose row id is above this one. */
  after?: number;
  /** At most this many. Default 100, at most 1000. */
  limit?: number;
}
