import { BadRequestException, Injectable } from '@nestjs/common';
import { InvalidJobsOptionError } from '../errors/jobs.errors.js';
import type { JobQueueInfo } from '../interfaces/jobs-service.interface.js';
import type { KindLimits } from '../limits/kind-limits.js';
import { DashboardJobs } from './dashboard.jobs.js';
import type { KindLimitsOf, QueueRow } from './dashboard.types.js';

/** What a queue's button may ask. */
export type QueueAction = 'pause' | 'resume';

/** How a pause or resume went: `changed` false when the queue was in that state already. */
export interface QueueToggle {
  changed: boolean;
  message: string;
}

/**
 * The queues as JobsService.queues() gives them, with the limits of the kinds whose jobs each
 * holds, and their pause and resume (stored, cluster-wide).
 */
@Injectable()
export class DashboardQueues {
  constructor(private readonly jobs: DashboardJobs) {}

  async list(): Promise<QueueRow[]> {
    const [queues, kinds] = await Promise.all([this.jobs.service.queues(), this.jobs.kinds.all()]);
    const limits = await this.jobs.kinds.limitsOf(kinds.map((kind) => kind.name));
    return Promise.all(
      queues.map(async (queue) => ({ ...queue, limits: await this.limitsIn(queue, limits) })),
    );
  }

  /**
   * The limits of the kinds that declare any and have jobs in this queue, by kind name. A kind's
   * jobs may go to any queue (`enqueue(..., { queue })`), so it is asked of the jobs, per limited
   * kind: a few small counts, none when no kind declares a limit or the queue holds no job.
   */
  private async limitsIn(
    queue: JobQueueInfo,
    limits: Map<string, KindLimits>,
  ): Promise<KindLimitsOf[]> {
    if (limits.size === 0 || !Object.values(queue.counts).some((n) => n > 0)) return [];
    const held = await Promise.all(
      [...limits].map(async ([kind, declared]) => {
        const counts = await this.jobs.queries.counts({ queue: queue.name, kind });
        return Object.values(counts).some((n) => n > 0) ? { kind, limits: declared } : null;
      }),
    );
    return held
      .filter((row): row is KindLimitsOf => row !== null)
      .sort((a, b) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0));
  }

  /** The names of the paused queues (one small read, no counts), to mark their jobs. */
  async pausedNames(): Promise<Set<string>> {
    const states = await this.jobs.store.queueStates();
    return new Set([...states].filter(([, paused]) => paused).map(([name]) => name));
  }

  /** Pauses or resumes the queue `name`; a name no queue can have is a 400 that says why. */
  async toggle(action: QueueAction, name: string): Promise<QueueToggle> {
    const service = this.jobs.service;
    let changed: boolean;
    try {
      changed =
        action === 'pause' ? await service.pauseQueue(name) : await service.resumeQueue(name);
    } catch (error) {
      if (error instanceof InvalidJobsOptionError) throw new BadRequestException(error.message);
      throw error;
    }
    return { changed, message: describeToggle(action, name, changed) };
  }
}

function describeToggle(action: QueueAction, name: string, changed: boolean): string {
  if (action === 'pause') {
    return changed
      ? `Paused queue ${name}: no instance starts its jobs until it is resumed; running jobs finish.`
      : `Queue ${name} was paused already.`;
  }
  return changed ? `Resumed queue ${name}.` : `Queue ${name} was not paused.`;
}
