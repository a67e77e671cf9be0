import type { CanActivate, Type } from '@nestjs/common';
import { InvalidJobsOptionError } from '../errors/jobs.errors.js';
import { knownKeys, positiveInteger } from '../options/index.js';

/** Options of `JobsDashboardModule.forRoot()`, or what `forRootAsync()`'s factory returns. */
export interface JobsDashboardOptions {
  /** Shown in the page titles and header. Default "Jobs". */
  title?: string;
  /** Jobs per page of the list. Default 50, at most 500. */
  pageSize?: number;
  /**
   * Secret that signs the CSRF tokens and notices. Give the same one to every instance behind a load
   * balancer (at least 32 characters); default: random per process, so a form must be posted back
   * to the instance that rendered it.
   */
  csrfSecret?: string;
  /**
   * How often (ms) an open page refreshes its counts, chart and list from the JSON API; never while
   * its tab is hidden. Default 5,000, at least 100.
   */
  refreshInterval?: number;
}

/** What must be known when the module is imported (the route and who may use it). */
export interface JobsDashboardExtras {
  /** Where the dashboard is mounted, e.g. `/jobs` (after any global prefix). */
  path: string;
  /**
   * A Nest guard class that decides who may see the dashboard and act on jobs. It runs before every
   * page, API call and action; it is provided in the dashboard's module, so its dependencies must be
   * global or come from `imports`.
   */
  guard: Type<CanActivate>;
}

export interface ResolvedDashboardOptions {
  title: string;
  pageSize: number;
  csrfSecret: string | null;
  refreshInterval: number;
}

const KNOWN = new Set(['title', 'pageSize', 'csrfSecret', 'refreshInterval']);

/** Applies the defaults and checks every value; the one place that knows them. */
export function resolveDashboardOptions(
  options: JobsDashboardOptions = {},
): ResolvedDashboardOptions {
  knownKeys('JobsDashboardModule', options, KNOWN);
  const { title = 'Jobs', csrfSecret } = options;
  if (typeof title !== 'string' || title.length === 0 || title.length > 100) {
    throw new InvalidJobsOptionError('title', title, 'a string of 1 to 100 characters');
  }
  if (csrfSecret !== undefined && (typeof csrfSecret !== 'string' || csrfSecret.length < 32)) {
    throw new InvalidJobsOptionError(
      'csrfSecret',
      '(hidden)',
      'a string of at least 32 characters',
    );
  }
  const pageSize = positiveInteger('pageSize', options.pageSize, 50);
  if (pageSize > 500) throw new InvalidJobsOptionError('pageSize', pageSize, 'at most 500');
  const refreshInterval = positiveInteger('refreshInterval', options.refreshInterval, 5_000);
  if (refreshInterval < 100)
    throw new InvalidJobsOptionError('refreshInterval', refreshInterval, 'at least 100 (ms)');
  return { title, pageSize, csrfSecret: csrfSecret ?? null, refreshInterval };
}

/** `/jobs`, `jobs/`, `/admin//jobs` -> `/jobs`, `/admin/jobs`; rejects what is not a plain path. */
export function normalizeMountPath(path: unknown): string {
  if (typeof path !== 'string' || !/^[A-Za-z0-9/_.~-]*$/.test(path)) {
    throw new InvalidJobsOptionError(
      'path',
      path,
      'a URL path such as "/jobs" (letters, digits, / _ . ~ -)',
    );
  }
  const parts = path.split('/').filter(Boolean);
  if (parts.length === 0)
    throw new InvalidJobsOptionError('path', path, 'a path other than "/", such as "/jobs"');
  return `/${parts.join('/')}`;
}

export function checkGuard(guard: unknown): Type<CanActivate> {
  if (typeof guard !== 'function' || typeof guard.prototype?.canActivate !== 'function') {
    throw new InvalidJobsOptionError(
      'guard',
      typeof guard === 'function' ? guard.name : guard,
      'a guard class (with canActivate) that decides who may use the dashboard',
    );
  }
  return guard as Type<CanActivate>;
}
