import { JobCancelledError, JobLeaseLostError } from '../errors/jobs.errors.js';
import type { JobStore } from '../storage/job.store.js';
import type { JobHolder } from '../storage/dialects/dialect.js';
import type { ClaimedJob } from '../storage/job-rows.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { LocalQueue } from './local-queue.js';
import type { RunningJobs } from './running-jobs.js';

/**
 * Keeps this instance's runs its own. Renews the leases of running and claimed jobs; when a job
 * turns out to be no longer ours (cancelled on any instance, reclaimed by another after a stall,
 * deleted), its run is abandoned at once: its signal aborts with the reason, its slot is freed,
 * whatever it returns later is dropped. Cancels arrive as messages (this instance's own at once,
 * others' on PostgreSQL by NOTIFY); `check`, each poll interval while runs are in progress, finds
 * those no NOTIFY brought.
 *
 * Jobs are followed by the claim (the ClaimedJob object), not by id: a periodic job can end and be
 * claimed here again while a check is under way, and that new run is ours; a job whose lease ran
 * out can be claimed here again while its old run still goes on, and only the new claim is ours
 * (the database holds it by owner and attempts).
 */
export class RunOwnership {
  constructor(
    private readonly store: JobStore,
    private readonly owner: string,
    private readonly leases: LeaseKeeper,
    private readonly running: RunningJobs,
    private readonly queue: LocalQueue,
  ) {}

  /** Renews the leases of the jobs we hold; those it could not renew are checked. Throws what the database throws. */
  async renew(now: number): Promise<void> {
    const jobs = [...this.running.jobs(), ...this.queue.held()];
    if (jobs.length === 0) return;
    const renewed = await this.leases.renew(
      jobs.map((job) => job.id),
      now,
    );
    this.queue.renewed(now);
    if (renewed < jobs.length) await this.check(jobs);
  }

  /** Reads who holds these jobs (default: the running and claimed ones) and abandons those not ours. */
  async check(jobs: ClaimedJob[] = [...this.running.jobs(), ...this.queue.held()]): Promise<void> {
    if (jobs.length === 0) return;
    const holders = await this.store.holders(jobs.map((job) => job.id));
    const lost = new Map<ClaimedJob, Error>();
    for (const job of jobs) {
      const holder = holders.get(job.id);
      if (
        holder?.status === 'running' &&
        holder.lockedBy === this.owner &&
        holder.attempts === job.attempts
      ) {
        continue;
      }
      lost.set(job, reasonOf(job.id, holder, this.owner));
    }
    this.abandon(lost);
  }

  /** Jobs cancelled somewhere: those running or claimed here stop at once. */
  cancelled(ids: number[]): void {
    const wanted = new Set(ids);
    const lost = new Map<ClaimedJob, Error>();
    for (const job of [...this.running.jobs(), ...this.queue.held()]) {
      if (wanted.has(job.id)) lost.set(job, new JobCancelledError(job.id));
    }
    this.abandon(lost);
  }

  private abandon(lost: Map<ClaimedJob, Error>): void {
    if (lost.size === 0) return;
    this.queue.drop(new Set(lost.keys()));
    this.running.abandon(lost);
  }
}

function reasonOf(id: number, holder: JobHolder | undefined, owner: string): Error {
  if (!holder) return new JobLeaseLostError(id, 'it was deleted');
  switch (holder.status) {
    case 'cancelled':
      return new JobCancelledError(id);
    case 'paused':
      return new JobLeaseLostError(id, 'its schedule was paused');
    case 'running':
      return new JobLeaseLostError(
        id,
        holder.lockedBy === owner
          ? 'its lease ran out and this instance claimed it again'
          : 'its lease ran out and another instance took it',
      );
    default:
      return new JobLeaseLostError(id, `its lease ran out; it is ${holder.status} now`);
  }
}
