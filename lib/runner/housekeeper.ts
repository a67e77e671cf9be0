import type { JobStatus } from '../interfaces/job-context.interface.js';
import type { JobStore } from '../storage/job.store.js';
import { logLine } from './run-log.js';

const PRUNE_EVERY_MS = 60_000;
const REAPED_NOTE = 'lease expired: the instance running it stopped or lost the database';

/**
 * The cluster's periodic chores, done by every instance and harmless when several do them at once:
 * frees jobs whose lease ran out (every lease / 2: their instance died or lost the database), and
 * every minute prunes finished jobs past their retention and says which kinds this instance
 * handles (so a kind no running instance handles shows as such). One statement each; with the
 * prune, the flows' sweep (one read when no dependency or batch is open).
 */
export class Housekeeper {
  private nextReapAt = 0;
  private nextPruneAt = 0;

  constructor(
    private readonly store: JobStore,
    private readonly settings: {
      lease: number;
      retention: Record<'succeeded' | 'failed' | 'cancelled', number | null>;
    },
    /** The kinds this instance's runner has handlers for. */
    private readonly handled: () => string[],
    /** Settles dependencies and batches a crash left unsettled (lib/flows/); never throws. */
    private readonly sweepFlows: () => Promise<void> = async () => undefined,
  ) {}

  due(now: number): boolean {
    return now >= this.nextReapAt || now >= this.nextPruneAt;
  }

  /** Does what is due (the reap always, when `urgent`: it is the probe that ends an outage). Throws what the database throws. */
  async run(now: number, urgent = false): Promise<void> {
    if (now >= this.nextReapAt || urgent) {
      this.nextReapAt = now + Math.floor(this.settings.lease / 2);
      await this.store.reapExpired(now, logLine(now, REAPED_NOTE));
    }
    if (now >= this.nextPruneAt) {
      this.nextPruneAt = now + PRUNE_EVERY_MS;
      const rules = Object.entries(this.settings.retention)
        .filter((entry): entry is [JobStatus, number] => entry[1] !== null)
        .map(([status, keep]) => ({ status, before: now - keep }));
      await this.store.pruneFinished(rules);
      await this.sweepFlows();
      await this.store.confirmHandlers(this.handled(), now);
    }
  }
}
