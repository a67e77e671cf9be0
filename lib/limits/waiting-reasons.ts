import type { JobEntity } from '../entities/job.entity.js';
import { usageKey, type KindQueries } from '../storage/kind.queries.js';
import type { JobStore } from '../storage/job.store.js';
import { describeWindow, type JobWaiting, type KindLimits } from './kind-limits.js';

type Explained = Pick<JobEntity, 'kind' | 'queue' | 'status' | 'runAt' | 'group'> & {
  waiting?: JobWaiting | null;
  dependenciesLeft?: number | null;
};

/**
 * Why pending, due jobs do not run yet, worked out when they are read (`get`, `list`, the
 * dashboard), never stored: their queue is paused, or a limit of their kind or group is used up
 * (the limits as `nest_job_kinds.limits` records them, so an instance without the handler knows).
 * Costs nothing when no job read is due and pending; else a few grouped reads.
 */
export class WaitingReasons {
  constructor(
    private readonly store: Pick<JobStore, 'queueStates'>,
    private readonly kinds: Pick<KindQueries, 'limitsOf' | 'limitUsage'>,
  ) {}

  async explain<T extends Explained>(jobs: T[], now = Date.now()): Promise<T[]> {
    const due = jobs.filter((job) => job.status === 'pending' && job.runAt.getTime() <= now);
    for (const job of jobs) job.waiting = dependencies(job);
    if (due.length === 0) return jobs;
    const [paused, limits] = await Promise.all([
      this.store.queueStates(),
      this.kinds.limitsOf([...new Set(due.map((job) => job.kind))]),
    ]);
    const usage = await this.kinds.limitUsage(limits, now);
    for (const job of due) {
      job.waiting = paused.get(job.queue)
        ? { reason: 'queue-paused', message: `its queue "${job.queue}" is paused` }
        : heldBy(job, limits.get(job.kind), usage);
    }
    return jobs;
  }
}

/** A pending job waiting on dependencies not yet ended (lib/flows/): no read needed. */
function dependencies(job: Explained): JobWaiting | null {
  const left = job.dependenciesLeft ?? 0;
  if (job.status !== 'pending' || left <= 0) return null;
  return {
    reason: 'dependencies',
    message: `it waits on ${left} ${left === 1 ? 'dependency' : 'dependencies'} not yet ended`,
  };
}

function heldBy(
  job: Explained,
  limits: KindLimits | undefined,
  usage: { running: Map<string, number>; starts: Map<string, number> },
): JobWaiting | null {
  if (!limits) return null;
  const running = (group: string | null) => usage.running.get(usageKey(job.kind, group)) ?? 0;
  const starts = (group: string | null) => usage.starts.get(usageKey(job.kind, group)) ?? 0;
  if (limits.concurrency !== null && running(null) >= limits.concurrency) {
    return {
      reason: 'concurrency',
      message: `${running(null)} of ${limits.concurrency} jobs of kind "${job.kind}" allowed at once are running`,
    };
  }
  if (limits.rateLimit && starts(null) >= limits.rateLimit.limit) {
    return {
      reason: 'rate-limit',
      message: `kind "${job.kind}" started ${starts(null)} of ${limits.rateLimit.limit} jobs allowed per ${describeWindow(limits.rateLimit.per)}`,
    };
  }
  const group = job.group;
  if (group === null || !limits.group) return null;
  const { concurrency, rateLimit } = limits.group;
  if (concurrency !== null && running(group) >= concurrency) {
    return {
      reason: 'group-concurrency',
      message: `${running(group)} of ${concurrency} jobs of group "${group}" allowed at once are running`,
    };
  }
  if (rateLimit && starts(group) >= rateLimit.limit) {
    return {
      reason: 'group-rate-limit',
      message: `group "${group}" started ${starts(group)} of ${rateLimit.limit} jobs allowed per ${describeWindow(rateLimit.per)}`,
    };
  }
  return null;
}
