import type { JobEntity } from '../entities/job.entity.js';
import { InvalidJobsOptionError, ScheduleNotCancellableError } from '../errors/jobs.errors.js';
import type { ListSchedulesFilter } from '../interfaces/schedule-options.interface.js';
import { INT32_MAX, integer, isWellFormed, knownKeys } from '../options/index.js';
import type { NewJobRow } from '../storage/job-rows.js';
import {
  MAX_SCHEDULE_KEY_CHARS,
  nextOccurrence,
  runtimeKeyOf,
  runtimeScheduleKeyOf,
  runtimeScheduleOf,
  serializeSchedule,
  type ScheduleSpec,
} from './schedule.js';

const OPTION_KEYS = ['cron', 'timezone', 'every', 'missed', 'queue', 'priority', 'maxAttempts'];

/** Control characters: a key is typed and read by people (lone surrogates: see isWellFormed). */
const CONTROL = /[\u0000-\u001f]/;

/** Checks the key and options of `schedule(key, kind, data, options)`; returns its spec. Writes nothing. */
export function checkRuntimeSchedule(key: unknown, options: unknown): ScheduleSpec {
  if (
    typeof key !== 'string' ||
    key.length === 0 ||
    key.length > MAX_SCHEDULE_KEY_CHARS ||
    CONTROL.test(key) ||
    !isWellFormed(key)
  ) {
    throw new InvalidJobsOptionError(
      'key of schedule()',
      key,
      `a string of 1 to ${MAX_SCHEDULE_KEY_CHARS} characters without control characters, such as 'digest:user:42'`,
    );
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidJobsOptionError(
      `options of schedule "${key}"`,
      options,
      "an object with cron or every, such as { cron: '0 8 * * *', timezone: 'Europe/Paris' }",
    );
  }
  knownKeys('schedule()', options, OPTION_KEYS);
  return runtimeScheduleOf(key, options);
}

/** Checks the filter of `schedules()`; returns it. */
export function checkScheduleFilter(filter: ListSchedulesFilter = {}): ListSchedulesFilter {
  knownKeys('schedules()', filter, ['kind', 'after', 'limit']);
  if (filter.kind !== undefined && typeof filter.kind !== 'string')
    throw new InvalidJobsOptionError('kind', filter.kind, 'a kind name');
  integer('after', filter.after, 0, 0, INT32_MAX);
  integer('limit', filter.limit, 100, 1, Number.MAX_SAFE_INTEGER); // more than 1,000 reads 1,000
  return filter;
}

/** The row of a runtime schedule: the job row `schedule()` checked, made periodic on the spec. */
export function runtimeScheduleRow(
  key: string,
  row: NewJobRow,
  spec: ScheduleSpec,
  now: number,
): NewJobRow {
  return {
    ...row,
    periodic: true,
    interval: spec.every ?? null,
    runAt: nextOccurrence(spec, now),
    uniqueKey: runtimeScheduleKeyOf(key),
    schedule: serializeSchedule(spec),
  };
}

/**
 * `cancel()` refuses a schedule's row: a declared schedule would be revived at the next start of any
 * instance, and a cancelled runtime schedule would stop holding its key. Pausing is the way.
 */
export function refuseScheduleCancel(job: JobEntity | null): void {
  if (!job || job.schedule === null || !job.active) return;
  const runtimeKey = runtimeKeyOf(job.uniqueKey);
  throw new ScheduleNotCancellableError(job.id, runtimeKey ?? job.kind, runtimeKey === null);
}
