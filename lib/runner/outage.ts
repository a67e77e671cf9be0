import { summarizeError } from './error-text.js';
import { messages } from '../jobs.messages.js';

const MAX_OUTAGE_BACKOFF = 30_000;

/**
 * Whether the database is reachable, as the runner last found it. While it is not, claims wait a
 * growing delay (poll interval, doubled per failure, at most 30 s), and the outage is logged once
 * per backoff step, not once per poll.
 */
export class OutageTracker {
  private outage: { since: number; failures: number; loggedAt: number } | null = null;
  private resumeAt = 0;

  constructor(
    private readonly pollInterval: number,
    private readonly log: { warn(message: string): void; log(message: string): void },
  ) {}

  get active(): boolean {
    return this.outage !== null;
  }

  /** False while claims should wait out the backoff. */
  mayClaim(now: number): boolean {
    return now >= this.resumeAt;
  }

  /** A statement went through. Returns true when that ended an outage. */
  reachable(): boolean {
    if (!this.outage) return false;
    this.log.log(messages.outageOver(Math.round((Date.now() - this.outage.since) / 1000)));
    this.outage = null;
    this.resumeAt = 0;
    return true;
  }

  unreachable(error: unknown): void {
    const now = Date.now();
    const outage = (this.outage ??= { since: now, failures: 0, loggedAt: 0 });
    outage.failures++;
    const wait = Math.min(this.pollInterval * 2 ** (outage.failures - 1), MAX_OUTAGE_BACKOFF);
    this.resumeAt = now + wait;
    if (now - outage.loggedAt >= MAX_OUTAGE_BACKOFF || outage.loggedAt === 0) {
      outage.loggedAt = now;
      this.log.warn(messages.outage(summarizeError(error), wait));
    }
  }
}
