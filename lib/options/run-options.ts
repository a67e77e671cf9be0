import { InvalidJobsOptionError } from '../errors/jobs.errors.js';
import type { JobBackoff } from '../interfaces/enqueue-options.interface.js';
import { MAX_DURATION_MS } from './options.bounds.js';
import { integer, knownKeys, positiveInteger } from './options.validation.js';

/**
 * The run options one job can carry instead of its kind's (`timeout`, `backoff` at enqueue), checked
 * and put in the form the nest_jobs columns store: `timeout_ms` an integer, `backoff` JSON text.
 */

/** Milliseconds a run may take (0: no timeout), as a Node timer can wait; null when not given. */
export function jobTimeout(value: unknown): number | null {
  return value === undefined ? null : positiveInteger('timeout', value, 0, 0);
}

const BACKOFF_TYPES = ['fixed', 'exponential'];
const EXPECTED_BACKOFF =
  "milliseconds (the base of an exponential backoff) or { type: 'fixed' | 'exponential', delay: ms }";

/** A backoff as the `backoff` column stores it (JSON text); null when not given. */
export function jobBackoff(value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value === 'number') {
    return JSON.stringify(integer('backoff', value, 0, 0, MAX_DURATION_MS));
  }
  // A function cannot be stored: it exists only in the process that enqueued the job.
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidJobsOptionError('backoff', value, EXPECTED_BACKOFF);
  }
  knownKeys('backoff', value, ['type', 'delay']);
  const { type, delay } = value as Partial<JobBackoff>;
  if (typeof type !== 'string' || !BACKOFF_TYPES.includes(type)) {
    throw new InvalidJobsOptionError('backoff.type', type, "'fixed' or 'exponential'");
  }
  if (delay === undefined) throw new InvalidJobsOptionError('backoff.delay', delay, 'milliseconds');
  return JSON.stringify({ type, delay: integer('backoff.delay', delay, 0, 0, MAX_DURATION_MS) });
}
