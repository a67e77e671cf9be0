import { InvalidJobsOptionError } from '../errors/jobs.errors.js';
import type { JobKindOptions, RateLimitOption } from '../interfaces/job-kind-options.interface.js';
import { duration, knownKeys, positiveInteger } from '../options/options.validation.js';
import { MAX_DURATION_MS } from '../options/options.bounds.js';

/** A rate limit, resolved: at most `limit` starts in any window of `per` ms. */
export interface RateLimit {
  limit: number;
  per: number;
}

/** The limits of one scope (the kind, or each group of it); null: no such limit. */
export interface ScopeLimits {
  concurrency: number | null;
  rateLimit: RateLimit | null;
}

/**
 * The cluster-wide limits a kind declares (`@JobKind(name, { concurrency, rateLimit, group })`),
 * checked at startup. `group` applies to each group key on its own; a job without a group key is
 * held only by the kind's own limits.
 */
export interface KindLimits extends ScopeLimits {
  group: ScopeLimits | null;
}

/** Why a pending, due job waits (see JobEntity.waiting). */
export interface JobWaiting {
  reason:
    | 'queue-paused'
    | 'concurrency'
    | 'rate-limit'
    | 'group-concurrency'
    | 'group-rate-limit'
    | 'dependencies';
  /** For people: what holds it, with the figures. */
  message: string;
}

/**
 * The limits of a kind's options, or null when it declares none. A bad value throws
 * InvalidJobsOptionError naming the kind and the option, at startup, before anything runs.
 */
export function kindLimitsOf(kind: string, options: JobKindOptions): KindLimits | null {
  const own = scopeLimits(`@JobKind("${kind}")`, options.concurrency, options.rateLimit);
  let group: ScopeLimits | null = null;
  if (options.group !== undefined) {
    const where = `@JobKind("${kind}") group`;
    knownKeys(where, options.group, ['concurrency', 'rateLimit']);
    group = scopeLimits(where, options.group.concurrency, options.group.rateLimit);
    if (group.concurrency === null && group.rateLimit === null) {
      throw new InvalidJobsOptionError(
        `group of job kind "${kind}"`,
        options.group,
        '{ concurrency?, rateLimit? } with at least one of them',
      );
    }
  }
  if (own.concurrency === null && own.rateLimit === null && group === null) return null;
  return { ...own, group };
}

function scopeLimits(where: string, concurrency: unknown, rateLimit: unknown): ScopeLimits {
  return {
    concurrency:
      concurrency === undefined ? null : positiveInteger(`${where} concurrency`, concurrency, 1),
    rateLimit: rateLimit === undefined ? null : rateLimitOf(`${where} rateLimit`, rateLimit),
  };
}

function rateLimitOf(where: string, value: unknown): RateLimit {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidJobsOptionError(
      where,
      value,
      "{ limit: starts, per: ms or a duration ('1m') }",
    );
  }
  knownKeys(where, value, ['limit', 'per']);
  const { limit, per } = value as RateLimitOption;
  if (per === undefined) {
    throw new InvalidJobsOptionError(`${where}.per`, per, "ms or a duration such as '1s', '1m'");
  }
  return {
    limit: positiveInteger(`${where}.limit`, limit, 1, 1, 1_000_000),
    per: duration(`${where}.per`, per, 1, 1, MAX_DURATION_MS),
  };
}

/** The longest window of a kind's rate limits (how long its starts must be kept), 0 for none. */
export function longestWindow(limits: KindLimits): number {
  return Math.max(limits.rateLimit?.per ?? 0, limits.group?.rateLimit?.per ?? 0);
}

/** Whether any of these limits counts starts. */
export function countsStarts(limits: KindLimits): boolean {
  return longestWindow(limits) > 0;
}

/** '5 at once, 100 per 1m; per group: 1 at once' for people. */
export function describeLimits(limits: KindLimits): string {
  const scope = (s: ScopeLimits) =>
    [
      s.concurrency !== null ? `${s.concurrency} at once` : null,
      s.rateLimit ? `${s.rateLimit.limit} per ${describeWindow(s.rateLimit.per)}` : null,
    ]
      .filter(Boolean)
      .join(', ');
  const parts = [scope(limits)];
  if (limits.group) parts.push(`per group: ${scope(limits.group)}`);
  return parts.filter(Boolean).join('; ');
}

export function describeWindow(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
