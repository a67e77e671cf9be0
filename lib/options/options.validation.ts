import { InvalidJobsOptionError, UnknownJobsOptionError } from '../errors/jobs.errors.js';
import type { BackoffOption } from '../interfaces/jobs-module-options.interface.js';
import { DURATION_EXAMPLES, durationMs } from './duration.js';
import {
  INT32_MAX,
  INT32_MIN,
  MAX_DURATION_MS,
  MAX_KIND_NAME,
  MAX_QUEUE_NAME,
  MAX_RUN_AT,
  MAX_TIMER_MS,
} from './options.bounds.js';

/**
 * The validators of every option the module takes (module, kind, enqueue, list): each returns the
 * value, or its fallback when absent, or throws InvalidJobsOptionError naming the option and saying
 * what it takes. Nothing is written before they have all passed.
 */

/**
 * Refuses keys the options object does not know (`{ dealy: 1000 }`), listing the ones it does.
 * Checks run per enqueue (per spec of an `enqueueMany`): give a Set made once where that matters.
 */
export function knownKeys(
  where: string,
  options: object | undefined,
  known: Iterable<string>,
): void {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object') {
    throw new InvalidJobsOptionError(where, options, 'an object of options');
  }
  let names = known instanceof Set ? (known as ReadonlySet<string>) : null;
  for (const key of Object.keys(options)) {
    names ??= new Set(known);
    if (!names.has(key)) throw new UnknownJobsOptionError(where, key, [...names]);
  }
}

/** An integer from `min` to `max` (a 32-bit column by default). */
export function integer(
  option: string,
  value: unknown,
  fallback: number,
  min = INT32_MIN,
  max = INT32_MAX,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidJobsOptionError(option, value, `an integer from ${min} to ${max}`);
  }
  return value;
}

/** An integer of at least `min` (1 by default) and at most 2^31 - 1: every count, size and timer. */
export function positiveInteger(
  name: string,
  value: unknown,
  fallback: number,
  min = 1,
  max = INT32_MAX,
): number {
  return integer(name, value, fallback, min, max);
}

/** Milliseconds or a duration string, from `min` to `max` ms. */
export function duration(
  option: string,
  value: unknown,
  fallback: number,
  min = 1,
  max = MAX_DURATION_MS,
): number {
  if (value === undefined) return fallback;
  const ms = durationMs(value);
  if (ms === null || ms < min || ms > max) {
    throw new InvalidJobsOptionError(
      option,
      value,
      `${DURATION_EXAMPLES}, from ${min} ms to ${describeMs(max)}`,
    );
  }
  return ms;
}

/** A duration that a Node timer waits for, so at most 2^31 - 1 ms (about 24.8 days). */
export function timerDuration(option: string, value: unknown, fallback: number, min = 1): number {
  return duration(option, value, fallback, min, MAX_TIMER_MS);
}

/** A base delay (ms or duration) for exponential backoff, or a function of the attempt. */
export function backoffOption(name: string, value: unknown): BackoffOption | undefined {
  if (value === undefined || typeof value === 'function') return value as BackoffOption | undefined;
  return duration(name, value, 0, 0);
}

export function flag(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidJobsOptionError(name, value, 'true or false');
  return value;
}

/**
 * Text every backend stores as given: PostgreSQL refuses NUL in text, MariaDB and PostgreSQL's
 * jsonb refuse lone surrogates, and a name that differs per backend would split a queue in two.
 */
export function storableText(value: string): boolean {
  return !value.includes('\u0000') && isWellFormed(value);
}

export function isWellFormed(value: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(value);
}

function name(option: string, value: unknown, max: number, what: string): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > max ||
    !storableText(value)
  ) {
    throw new InvalidJobsOptionError(
      option,
      value,
      `a ${what} of 1 to ${max} characters, without NUL or lone surrogates`,
    );
  }
  return value;
}

export function queueName(option: string, value: unknown): string {
  if (value === undefined) return 'default';
  return name(option, value, MAX_QUEUE_NAME, 'queue name');
}

/** A job's group key (VARCHAR(200), as kind names). */
export function groupKey(option: string, value: unknown): string {
  return name(option, value, MAX_KIND_NAME, 'group key');
}

export function jobKindName(option: string, value: unknown): string {
  return name(option, value, MAX_KIND_NAME, 'job kind name');
}

export function queueList(value: unknown): string[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidJobsOptionError('queues', value, 'a non-empty array of queue names');
  }
  return value.map((queue, i) => queueName(`queues[${i}]`, queue));
}

/** When a job is due: `runAt`, else now + `delay`; both held between 1970 and the end of 9999. */
export function dueAt(runAt: unknown, delay: unknown, now: number): number {
  if (runAt !== undefined) {
    const at = runAt instanceof Date ? runAt.getTime() : NaN;
    if (!(at >= 0 && at <= MAX_RUN_AT)) {
      throw new InvalidJobsOptionError('runAt', runAt, 'a valid Date from 1970 to the end of 9999');
    }
    return at;
  }
  const ms = delay === undefined ? 0 : durationMs(delay);
  if (ms === null || ms < 0 || ms > MAX_RUN_AT - now) {
    throw new InvalidJobsOptionError(
      'delay',
      delay,
      `${DURATION_EXAMPLES}, at least 0 and due before the end of year 9999`,
    );
  }
  return now + ms;
}

/** A job id: a positive 32-bit integer. */
export function isJobId(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= INT32_MAX
  );
}

/**
 * A job id as `get`/`cancel`/`retry` take it: anything but an integer is a mistake (typed error);
 * an integer outside the column's range is a job that cannot exist (false).
 */
export function lookupId(value: unknown): boolean {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new InvalidJobsOptionError('id', value, 'a job id (a positive integer)');
  }
  return isJobId(value);
}

function describeMs(ms: number): string {
  if (ms === MAX_TIMER_MS) return `${ms} ms (about 24.8 days, the longest Node timer)`;
  if (ms === MAX_DURATION_MS) return `${ms} ms (100 years)`;
  return `${ms} ms`;
}
