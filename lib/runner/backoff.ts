import type { BackoffOption } from '../interfaces/jobs-module-options.interface.js';

/**
 * Milliseconds to wait before retry number `attempt` (1 after the first failure). A number is the
 * base of an exponential backoff: base, 2 x base, 4 x base, ... never above `max`.
 */
export function backoffDelay(backoff: BackoffOption, attempt: number, max: number): number {
  const delay = typeof backoff === 'function' ? backoff(attempt) : backoff * 2 ** (attempt - 1);
  return Number.isFinite(delay) ? Math.min(Math.max(0, Math.round(delay)), max) : max;
}

/**
 * The backoff a job was enqueued with, as its `backoff` column stores it: JSON of a number (the base
 * of an exponential backoff) or of `{ type: 'fixed' | 'exponential', delay }`.
 */
export function storedBackoff(json: string): BackoffOption {
  const spec = JSON.parse(json) as number | { type: 'fixed' | 'exponential'; delay: number };
  if (typeof spec === 'number') return spec;
  if (spec.type === 'fixed') return () => spec.delay;
  return spec.delay;
}
