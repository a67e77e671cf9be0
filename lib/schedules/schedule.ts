import { createHash } from 'node:crypto';
import { Cron } from 'croner';
import { InvalidJobsOptionError } from '../errors/jobs.errors.js';
import type { JobKindOptions } from '../interfaces/job-kind-options.interface.js';

/** What to do with occurrences that passed while no instance ran: run the schedule once, or skip to the next. */
export type MissedPolicy = 'run-once' | 'skip';

/** A schedule declared on `@JobKind`, as stored (JSON) in the schedule row's `schedule` column. */
export interface ScheduleSpec {
  cron?: string;
  timezone?: string;
  every?: number;
  missed: MissedPolicy;
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `900_000`, `'15m'`, `'30s'`, `'1h30m'`, `'2d'` -> milliseconds; throws naming `option` otherwise. */
export function parseEvery(option: string, value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  if (typeof value === 'string' && /^(\d+(ms|s|m|h|d))+$/.test(value.trim())) {
    let total = 0;
    for (const [, amount, unit] of value.trim().matchAll(/(\d+)(ms|s|m|h|d)/g))
      total += Number(amount) * UNITS[unit];
    if (total > 0) return total;
  }
  throw new InvalidJobsOptionError(
    option,
    value,
    "milliseconds or a duration such as '30s', '15m', '1h30m', '1d'",
  );
}

/** The schedule a kind declares, checked (cron syntax and time zone included), or null if it declares none. */
export function scheduleOf(kind: string, options: JobKindOptions): ScheduleSpec | null {
  const at = (option: string) => `${option} of job kind "${kind}"`;
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
  if (options.every !== undefined) return { every: parseEvery(at('every'), options.every), missed };
  if (typeof options.cron !== 'string')
    throw new InvalidJobsOptionError(at('cron'), options.cron, 'a cron expression');
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
