import type { JobEntity } from '../entities/job.entity.js';
import {
  JobCancelledError,
  JobFailedError,
  JobNotFoundError,
  JobNotWaitableError,
  JobWaitShutdownError,
  JobWaitTimeoutError,
} from '../errors/jobs.errors.js';
import type { EnqueueOptions } from '../interfaces/enqueue-options.interface.js';
import type { EnqueueAndWaitOptions, WaitOptions } from '../interfaces/jobs-service.interface.js';
import type { ResolvedJobsOptions } from '../interfaces/jobs-module-options.interface.js';
import { FINISHED_STATUSES } from '../jobs.states.js';
import { lookupId } from '../options/options.validation.js';
import { checkWaitOptions, splitEnqueueAndWait, WAIT_BOUND } from '../options/wait.options.js';
import type { JobQueries } from '../storage/job.queries.js';
import type { JobStore } from '../storage/job.store.js';
import type { Wakeups } from '../wakeups/wakeups.js';

/**
 * Job ids one status read carries at most: under every server's bound on parameters (SQLite
 * 32,766, PostgreSQL and MySQL 65,535), so a poll is one statement up to 10,000 awaited jobs.
 */
const IDS_PER_READ = 10_000;

interface Waiter {
  resolve(job: JobEntity): void;
  reject(error: Error): void;
  timer?: NodeJS.Timeout;
}

/**
 * Waiting for jobs to end (`waitFor`, `enqueueAndWait`), wherever they run. The waiters of one
 * instance share one entry per job and one read per poll: every `pollInterval`, while anyone waits,
 * one statement reads the statuses of all the awaited jobs, and only those that ended are read
 * whole. Control messages ('finished', 'cancelled': from this instance at once, from others by
 * PostgreSQL's NOTIFY) are hints that trigger the same read early; the poll stays as the safety net
 * for a lost notification and the only way on MariaDB and SQLite. No timer runs while nobody waits.
 */
export class JobWaiters {
  /** The waiters of each awaited job. */
  private readonly waiting = new Map<number, Set<Waiter>>();
  /** Ids to read at the next check; polls and hints share the check in flight. */
  private readonly due = new Set<number>();
  private checking: Promise<void> | null = null;
  private pollTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | null = null;
  private stopped = false;

  constructor(
    private readonly queries: Pick<JobQueries, 'get' | 'statuses'>,
    private readonly store: Pick<JobStore, 'markAwaited'>,
    private readonly wakeups: Pick<Wakeups, 'subscribe'>,
    /** `pollInterval`: how often the awaited jobs' statuses are read; `timeout` (0: none): runs'. */
    private readonly options: Pick<ResolvedJobsOptions, 'pollInterval' | 'timeout'>,
  ) {}

  /** A wait's bound when it names none: the module's run timeout, else WAIT_BOUND. */
  private get defaultTimeout(): number {
    return this.options.timeout || WAIT_BOUND;
  }

  /** See `JobsService.waitFor`. */
  async waitFor(id: number, options?: WaitOptions): Promise<JobEntity> {
    const timeout = checkWaitOptions(options, this.defaultTimeout);
    if (!lookupId(id)) throw new JobNotFoundError(id);
    if (this.stopped) throw new JobWaitShutdownError(id);
    const job = await this.queries.get(id);
    if (!job) throw new JobNotFoundError(id);
    return this.wait(job, timeout);
  }

  /**
   * See `JobsService.enqueueAndWait`: checks what `enqueue` would not (the wait's timeout, no
   * periodic job, no manager), then enqueues and waits for the job `enqueue` returns.
   */
  async enqueueAndWait<T>(
    kind: string,
    options: EnqueueAndWaitOptions | undefined,
    enqueue: (options: EnqueueOptions) => Promise<JobEntity<T>>,
  ): Promise<JobEntity<T>> {
    const split = splitEnqueueAndWait(kind, options, this.defaultTimeout);
    return this.wait(await enqueue(split.enqueue), split.timeout);
  }

  /** How many waits of this instance are on the job. */
  waitingFor(id: number): number {
    return this.waiting.get(id)?.size ?? 0;
  }

  /** Settles with the job's end: at once if it has ended, else when it does or `timeout` passes. */
  private async wait<T>(job: JobEntity<T>, timeout: number): Promise<JobEntity<T>> {
    // `schedule` is undefined on a job just enqueued (not read back), null on one read.
    if (job.periodic || job.schedule != null) throw new JobNotWaitableError(job.id, job.kind);
    if (isEnded(job)) {
      const outcome = settled(job);
      if (outcome instanceof Error) throw outcome;
      return job;
    }
    if (this.stopped) throw new JobWaitShutdownError(job.id);
    const { waiter, ended } = this.add(job.id, timeout);
    try {
      // On PostgreSQL, the runner that ends an awaited job NOTIFYs; the read after it catches a
      // job that ended before the mark.
      await this.store.markAwaited([job.id]);
    } catch (error) {
      this.remove(job.id, waiter);
      throw error;
    }
    void this.check([job.id]);
    return ended as Promise<JobEntity<T>>;
  }

  /**
   * Rejects every wait with JobWaitShutdownError and stops reading; Nest calls it at shutdown,
   * before the data source closes: a read still in flight ends first.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    const waiting = [...this.waiting];
    this.waiting.clear();
    this.due.clear();
    this.idle();
    for (const [id, waiters] of waiting) {
      for (const waiter of waiters) finish(waiter, new JobWaitShutdownError(id));
    }
    await this.checking;
  }

  private add(id: number, timeout: number): { waiter: Waiter; ended: Promise<JobEntity> } {
    let waiter!: Waiter;
    const ended = new Promise<JobEntity>((resolve, reject) => (waiter = { resolve, reject }));
    // It may reject (timeout, shutdown) before `wait` hands it to its caller: not unhandled then.
    ended.catch(() => undefined);
    if (timeout > 0) {
      waiter.timer = setTimeout(() => {
        this.remove(id, waiter);
        finish(waiter, new JobWaitTimeoutError(id, timeout));
      }, timeout);
    }
    const waiters = this.waiting.get(id) ?? new Set<Waiter>();
    this.waiting.set(id, waiters.add(waiter));
    // Subscribed while anyone waits: on an instance without a runner this starts the listener.
    this.unsubscribe ??= this.wakeups.subscribe((_message, ids) => void this.check(ids));
    this.schedulePoll();
    return { waiter, ended };
  }

  private remove(id: number, waiter: Waiter): void {
    const waiters = this.waiting.get(id);
    waiters?.delete(waiter);
    if (waiters?.size === 0) this.waiting.delete(id);
    if (this.waiting.size === 0) this.idle();
  }

  /** Nobody waits: no timer, no subscription. */
  private idle(): void {
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** The next poll, unless one is set (or in flight: it sets the next one when done). */
  private schedulePoll(): void {
    if (this.pollTimer || this.waiting.size === 0 || this.stopped) return;
    const timer = setTimeout(async () => {
      await this.check(this.waiting.keys());
      // Unless the waits all ended meanwhile (and perhaps others began, with a timer of their own).
      if (this.pollTimer !== timer) return;
      this.pollTimer = undefined;
      this.schedulePoll();
    }, this.options.pollInterval);
    this.pollTimer = timer;
  }

  /** Reads these awaited jobs' statuses (with any others due), in the check in flight if any. */
  private check(ids: Iterable<number>): Promise<void> {
    for (const id of ids) if (this.waiting.has(id)) this.due.add(id);
    if (this.checking === null && this.due.size > 0) this.checking = this.readDue();
    return this.checking ?? Promise.resolve();
  }

  private async readDue(): Promise<void> {
    try {
      while (this.due.size > 0) {
        const ids = [...this.due].slice(0, IDS_PER_READ);
        for (const id of ids) this.due.delete(id);
        await this.settleEnded(ids);
      }
    } catch {
      // The database is unreachable: the next poll reads again; the waits' timeouts bound them.
    } finally {
      this.checking = null;
    }
  }

  /** One statement for the statuses; the jobs that ended (only) are read whole and settled. */
  private async settleEnded(ids: number[]): Promise<void> {
    const statuses = await this.queries.statuses(ids);
    for (const id of ids) {
      const status = statuses.get(id);
      if (!this.waiting.has(id) || (status && !FINISHED_STATUSES.includes(status))) continue;
      // Deleted (by `prune`, the dashboard, or `retention: { succeeded: 0 }` at its success).
      const job = status ? await this.queries.get(id) : null;
      if (job && !isEnded(job)) continue; // retried meanwhile: it goes on
      const waiters = this.waiting.get(id);
      if (!waiters) continue;
      this.waiting.delete(id);
      for (const waiter of waiters) finish(waiter, job ? settled(job) : new JobNotFoundError(id));
    }
    if (this.waiting.size === 0) this.idle();
  }
}

function isEnded(job: JobEntity): boolean {
  return FINISHED_STATUSES.includes(job.status);
}

/** The job an ended wait resolves with, or the error it rejects with. */
function settled(job: JobEntity): JobEntity | Error {
  if (job.status === 'failed') return new JobFailedError(job);
  if (job.status === 'cancelled') return new JobCancelledError(job.id, job);
  return job;
}

function finish(waiter: Waiter, outcome: JobEntity | Error): void {
  clearTimeout(waiter.timer);
  if (outcome instanceof Error) waiter.reject(outcome);
  else waiter.resolve(outcome);
}
