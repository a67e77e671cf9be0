import type { JobQueueInfo } from '../interfaces/jobs-service.interface.js';
import { queueName } from '../options/options.validation.js';
import { countsOf, type JobQueries } from '../storage/job.queries.js';
import type { JobStore } from '../storage/job.store.js';

/**
 * Queues as a whole: paused or not (stored in `nest_job_queues`, so a pause reaches every instance
 * at its next claim and survives restarts), and what each holds. Every claim leaves out the jobs of
 * paused queues (the dialects' `claimFilter`); enqueueing into a paused queue works as usual.
 */
export class QueueStates {
  constructor(
    private readonly store: Pick<JobStore, 'setQueuePaused' | 'queueStates'>,
    private readonly queries: Pick<JobQueries, 'countsByQueue'>,
  ) {}

  /** Pauses the queue everywhere; false if it was paused already. */
  async pause(name: string): Promise<boolean> {
    return this.store.setQueuePaused(queueName('queue', name), true, Date.now());
  }

  /** Resumes the queue everywhere; false if it was not paused. */
  async resume(name: string): Promise<boolean> {
    return this.store.setQueuePaused(queueName('queue', name), false, Date.now());
  }

  /** Every queue that holds jobs or has a state, by name, with its counts per status. */
  async list(): Promise<JobQueueInfo[]> {
    const [states, counts] = await Promise.all([
      this.store.queueStates(),
      this.queries.countsByQueue(),
    ]);
    const names = [...new Set([...counts.keys(), ...states.keys()])].sort();
    return names.map((name) => ({
      name,
      paused: states.get(name) ?? false,
      counts: counts.get(name) ?? emptyCounts(),
    }));
  }
}

function emptyCounts(): JobQueueInfo['counts'] {
  return countsOf([]);
}
