/**
 * The ranges every input is held to, chosen so that each value fits every backend's column and
 * JavaScript's own types. Documented in docs/api.md ("Bounds").
 */

/** The id, priority, attempts and max_attempts columns are 32-bit INTEGER on every backend. */
export const INT32_MAX = 2_147_483_647;
export const INT32_MIN = -2_147_483_648;

/**
 * The latest moment a job may be due: the end of year 9999. `Date` reaches year 275760, but ISO
 * strings, the dashboard and most tools assume four-digit years; the bigint column holds either.
 */
export const MAX_RUN_AT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Node's timers hold at most this (about 24.8 days); a longer one fires at once, with a warning. */
export const MAX_TIMER_MS = INT32_MAX;

/** Intervals, backoffs and retention ages: a century is more than anyone means and fits every column. */
export const MAX_DURATION_MS = 100 * 365 * 86_400_000;

/** Queue names are VARCHAR(100), kind names VARCHAR(200). */
export const MAX_QUEUE_NAME = 100;
export const MAX_KIND_NAME = 200;
