import { INT32_MAX } from '../options/options.bounds.js';

/** Moments remembered at most; later ones are found by the poll. */
const MAX_MOMENTS = 100;
/**
 * The longest delay a Node timer takes (2^31 - 1 ms, about 24.8 days). A longer one fires after
 * 1 ms: a job delayed by a month made the timer fire, re-arm and fire again every millisecond, each
 * time waking the runner to claim. A moment further off is waited for in steps of this.
 */
export const MAX_TIMER_DELAY = INT32_MAX;

/**
 * Timers for the moments jobs are known to become due (delayed jobs enqueued here, or announced by
 * another instance): the runner claims then instead of at its next poll. One timer runs at a time,
 * for the earliest moment; the next ones wait in a short sorted list.
 */
export class WakeTimer {
  private timer: NodeJS.Timeout | undefined;
  private moments: number[] = [];

  constructor(private readonly wake: () => void) {}

  /** Wakes the runner at `at` (epoch ms). */
  wakeAt(at: number): void {
    const moments = this.moments;
    if (moments.includes(at)) return;
    let i = moments.length;
    while (i > 0 && moments[i - 1] > at) i--;
    if (i >= MAX_MOMENTS) return;
    moments.splice(i, 0, at);
    if (moments.length > MAX_MOMENTS) moments.pop();
    if (i === 0) this.arm();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.moments = [];
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.moments.length === 0) return;
    // +1: a timer may fire within the millisecond before, and the claim compares run_at <= now.
    const delay = Math.min(MAX_TIMER_DELAY, Math.max(0, this.moments[0] - Date.now() + 1));
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref?.();
  }

  private fire(): void {
    const now = Date.now();
    let passed = false;
    while (this.moments.length > 0 && this.moments[0] <= now) {
      this.moments.shift();
      passed = true;
    }
    this.arm();
    // A step of a far-off wait (MAX_TIMER_DELAY) is no moment: nothing to claim yet.
    if (passed) this.wake();
  }
}
