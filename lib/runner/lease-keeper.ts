import { messages } from '../jobs.messages.js';
import type { JobStore } from '../storage/job.store.js';
import type { HeldJob } from '../storage/job-rows.js';
import { summarizeError } from './error-text.js';
import { logLine } from './run-log.js';

/**
 * The leases this instance holds on the jobs it runs and has claimed ahead: a job is ours until
 * its `locked_until`, which is pushed back while we hold it (every lease / 3, by the runner), and
 * given up at once when we stop before running it to its end.
 */
export class LeaseKeeper {
  constructor(
    private readonly store: JobStore,
    private readonly owner: string,
    private readonly lease: number,
    private readonly log: { error(message: string): void },
  ) {}

  /** When a lease taken or renewed at `now` runs out. */
  until(now: number): number {
    return now + this.lease;
  }

  /** Extends the leases of these jobs; returns how many were still ours. Throws what the database throws. */
  async renew(ids: number[], now: number): Promise<number> {
    return ids.length > 0 ? this.store.renew(this.owner, ids, this.until(now)) : 0;
  }

  /**
   * Makes jobs we hold due again at once, the interrupted attempt not counted; never throws. Only
   * these claims: a job claimed here again since (its lease ran out) stays with its new claim.
   */
  async release(jobs: readonly HeldJob[], note: string): Promise<void> {
    if (jobs.length === 0) return;
    const now = Date.now();
    try {
      await this.store.release(this.owner, [...jobs], now, logLine(now, note));
    } catch (error) {
      this.log.error(messages.resultNotSaved(jobs[0].id, summarizeError(error)));
    }
  }
}
