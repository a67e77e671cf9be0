import { createHash } from 'node:crypto';
import { Cron } from 'croner';
import { InvalidJobsOptionError } from '../errors/jobs.errors.js';
import type { JobKindOptions } from '../interfaces/job-kind-options.interface.js';
import { duration } from '../options/index.js';

/** What to do with occurrences that passed while no instance ran: run the schedule once, or skip to the next. */
export type MissedPolicy = 'run-once' | 'skip';

/** A schedule declared on `@JobKind`, as stored (JSON) in the schedule row's `schedule` column. */
export interface ScheduleSpec {
  cron?: string;
  timezone?: string;
  every?: number;
  missed: MissedPolicy;
}

/** `900_000`, `'15m'`, `'30s'`, `'1h30m'`, `'2d'` -> milliseconds (the grammar of lib/options/duration.ts). */
export function parseEvery(option: string, value: unknown): number {
  return duration(option, value, 0);
}

/** The schedule a kind declares, checked (cron syntax and time zone included), or null if it declares none. */
export function scheduleOf(kind: string, options: JobKindOptions): ScheduleSpec | null {
  return specOf((option) => `${option} of job kind "${kind}"`, options);
}

/** The schedule given to `JobsService.schedule(key, ...)`, checked: it must have `cron` or `every`. */
export function runtimeScheduleOf(key: string, options: ScheduleTiming): ScheduleSpec {
  const spec = specOf((option) => `${option} of schedule "${key}"`, options);
  if (!spec) {
    throw new InvalidJobsOptionError(
      `cron of schedule "${key}"`,
      undefined,
      "a cron expression, or every: a duration such as '15m'",
    );
  }
  return spec;
}

/** The timing options shared by `@JobKind` schedules and `JobsService.schedule()`. */
export interface ScheduleTiming {
  cron?: unknown;
  timezone?: unknown;
  every?: unknown;
  missed?: unknown;
}

function specOf(at: (option: string) => string, options: ScheduleTiming): ScheduleSpec | null {
  if (options.cron === undefined && options.every === undefined) {
    if (options.timezone !== undefined)
      throw new InvalidJobsOptionError(at('timezone'), options.timezone, 'to go with cron');
    return null;
  }
  if (options.cron !== undefined && options.every !== undefined) {
    throw new InvalidJobsOptionError(at('cron'), options.cron, 'either cron or every, not both');
  }
  const missed = options.missed ?? 'run-once';
  if (missed !== 'run-once' && missed !== 'skip')
    throw new InvalidJobsOptionError(at('missed'), missed, "'run-once' or 'skip'");
  if (options.every !== undefined) {
    if (options.timezone !== undefined)
      throw new InvalidJobsOptionError(at('timezone'), options.timezone, 'to go with cron');
    return { every: parseEvery(at('every'), options.every), missed };
  }
  if (typeof options.cron !== 'string' || options.cron.length > MAX_CRON_CHARS)
    throw new InvalidJobsOptionError(
      at('cron'),
      options.cron,
      `a cron expression of at most ${MAX_CRON_CHARS} characters`,
    );
  if (
    options.timezone !== undefined &&
    (typeof options.timezone !== 'string' || options.timezone.length > MAX_TIMEZONE_CHARS)
  )
    throw new InvalidJobsOptionError(at('timezone'), options.timezone, 'an IANA time zone');
  const spec: ScheduleSpec = { cron: options.cron, timezone: options.timezone, missed };
  try {
    new Cron(spec.cron!, { timezone: spec.timezone, paused: true }).nextRun();
  } catch (error) {
    const option = /timezone/i.test((error as Error).message) ? 'timezone' : 'cron';
    const value = option === 'timezone' ? spec.timezone : spec.cron;
    throw new InvalidJobsOptionError(
      at(option),
      value,
      `a valid ${option === 'cron' ? 'cron expression' : 'IANA time zone'} (${(error as Error).message})`,
    );
  }
  return spec;
}

/** Bounds that keep a serialized spec within the `schedule` column (300 characters). */
const MAX_CRON_CHARS = 120;
const MAX_TIMEZONE_CHARS = 64;

/** The first occurrence strictly after `after` (epoch ms). */
export function nextOccurrence(spec: ScheduleSpec, after: number): number {
  if (spec.every !== undefined) return after + spec.every;
  const next = new Cron(spec.cron!, { timezone: spec.timezone, paused: true }).nextRun(
    new Date(after),
  );
  if (!next) throw new Error(`The cron expression "${spec.cron}" has no future occurrence.`);
  return next.getTime();
}

/** The stored form: fixed key order, so an unchanged schedule gives the same text. */
export function serializeSchedule(spec: ScheduleSpec): string {
  return JSON.stringify({
    cron: spec.cron,
    timezone: spec.timezone,
    every: spec.every,
    missed: spec.missed,
  });
}

export function parseSchedule(text: string): ScheduleSpec {
  return JSON.parse(text) as ScheduleSpec;
}

/** The dedupe key of a kind's schedule row: one active row per declared schedule, across every instance. */
export function scheduleKeyOf(kind: string): string {
  return createHash('sha256').update('schedule').update('\0').update(kind).digest('hex');
}

/**
 * The dedupe key of a schedule made by `JobsService.schedule(key, ...)`. Its own namespace: the
 * declared keys are hex digests and `unique` keys are digests too, so none can collide with these.
 */
export function runtimeScheduleKeyOf(key: string): string {
  return `${RUNTIME_PREFIX}${key}`;
}

/** The user's key of a runtime schedule row, or null for any other row (a declared schedule's included). */
export function runtimeKeyOf(uniqueKey: string | null): string | null {
  return uniqueKey?.startsWith(RUNTIME_PREFIX) ? uniqueKey.slice(RUNTIME_PREFIX.length) : null;
}

const RUNTIME_PREFIX = 'schedule:';

/** Longest runtime schedule key: the prefix and the key fit the 255 characters of `unique_key`. */
export const MAX_SCHEDULE_KEY_CHARS = 200;
