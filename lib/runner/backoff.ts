import type { BackoffOption } from '../interfaces/jobs-module-options.interface.js';

/**
 * Milliseconds to wait before retry number `attempt` (1 after the first failure). A number is the
 * base of an exponential backoff: base, 2 x base, 4 x base, ... never above `max`.
 */
export function backoffDelay(backoff: BackoffOption, attempt: number, max: number): number {
  const delay = typeof backoff === 'function' ? backoff(attempt) : backoff * 2 ** (attempt - 1);
  return Number.isFinite(delay) ? Math.min(Math.max(0, Math.round(delay)), max) : max;
}
