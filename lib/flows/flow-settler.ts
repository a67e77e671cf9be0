import type { JobStore } from '../storage/job.store.js';
import type { Wakeups } from '../wakeups/wakeups.js';
import type { Settled } from './flow.steps.js';

/**
 * Settles the ends of linked jobs (a flow's, a batch's: lib/flows/flow.steps.ts) once their
 * outcomes are stored, and wakes whoever runs the jobs that made due; the housekeeper's sweep
 * settles what a crash left. A failure is logged, never thrown: the sweep settles it later.
 */
export class FlowSettler {
  constructor(
    private readonly store: JobStore,
    private readonly wakeups: Wakeups,
    private readonly warn: (message: string) => void,
  ) {}

  /** Ends waiting for the settle in flight to finish: settled together, in one transaction. */
  private waiting: number[] = [];
  private inFlight: Promise<void> | null = null;

  /**
   * Settles these ended jobs in the background. While a settle is in flight, the ends that come
   * meanwhile wait and go in the next one together: one transaction per round, not per outcome
   * batch (a flow's 10,000 children, a batch's jobs, end in many small batches).
   */
  settle(ids: number[]): void {
    if (ids.length === 0) return;
    this.waiting.push(...ids);
    this.inFlight ??= this.drain();
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      const ids = this.waiting.splice(0, 5_000);
      await this.run(() => this.store.settle(ids), `settling the end of ${ids.length} jobs`);
    }
    this.inFlight = null;
  }

  /** Resolves once the ends handed to `settle` so far are settled (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  /** Settles at once (a cancel from the service: its caller may read the dependents next). */
  settleNow(ids: number[]): Promise<void> {
    return this.run(() => this.store.settle(ids), `settling the end of jobs ${ids.join(', ')}`);
  }

  /** The housekeeper's chore: what a crash between an end and its settling left. */
  sweep(): Promise<void> {
    return this.run(() => this.store.sweepFlows(), 'sweeping unsettled dependencies and batches');
  }

  private async run(work: () => Promise<Settled>, what: string): Promise<void> {
    try {
      const settled = await work();
      if (settled.released.length > 0) this.wakeups.added(settled.released);
    } catch (error) {
      this.warn(`${what} failed (the housekeeper's sweep settles it later): ${String(error)}`);
    }
  }
}
