import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  JOBS_RESOLVED_OPTIONS,
  RUNNER_LEASE_INTERVAL,
  RUNNER_POLL_INTERVAL,
} from '../jobs.constants.js';
import { messages } from '../jobs.messages.js';
import { JobsRegistry } from '../jobs.registry.js';
import type { ResolvedJobsOptions } from '../interfaces/jobs-module-options.interface.js';
import type { RunPendingSummary } from '../interfaces/jobs-service.interface.js';
import type { JobStatus } from '../interfaces/job-context.interface.js';
import { JobStore } from '../storage/job.store.js';
import type { ClaimedJob, JobUpdate } from '../storage/job-rows.js';
import { logLine, RunAbort, runJob, type RunOutcome, type RunVerdict } from './job-execution.js';
import { JobsEvents, type JobEventName } from '../events/jobs.events.js';

interface RunningJob {
  job: ClaimedJob;
  controller: RunAbort;
  done: Promise<RunOutcome>;
}

interface BufferedUpdate {
  update: JobUpdate;
  /** After this moment our lease is gone and the write would be refused anyway. */
  deadline: number;
}

const MAX_OUTAGE_BACKOFF = 30_000;
const PRUNE_EVERY_MS = 60_000;
/** How often the finish rate behind `prefetch` is re-measured. */
const RATE_WINDOW_MS = 100;

const EVENT_OF: Record<RunVerdict, JobEventName> = {
  succeeded: 'succeeded',
  rescheduled: 'succeeded',
  snoozed: 'snoozed',
  retrying: 'failed',
  failed: 'dead',
};

/**
 * The scheduled runner: polls for due jobs, claims them in batches into a local buffer, runs them
 * under a concurrency limit, renews their leases, writes their outcomes in batches, and drains on
 * shutdown.
 *
 * How much it claims: the free slots plus about `prefetch` ms of work at the rate its jobs have been
 * finishing, at most `batchSize` per statement, and only once half of that is missing (so a busy
 * runner claims many jobs per statement, and slow jobs stay in the table for other instances).
 */
@Injectable()
export class JobsRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  /** Names this instance in `locked_by`; unique per process start. */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly logger = new Logger('JobsRunner');
  private readonly running = new Map<number, RunningJob>();
  /** Claimed, not started yet: they wait for a free slot, under our lease. */
  private ready: ClaimedJob[] = [];
  /** Outcomes not written yet. */
  private buffer: BufferedUpdate[] = [];
  /** Jobs per ms finishing here (smoothed), and the window being counted. */
  private rate = 0;
  private rateWindow = { start: Date.now(), finished: 0 };
  private flushing: Promise<void> | null = null;
  private flushQueued = false;
  private polling: Promise<void> | null = null;
  private pollAgain = false;
  /** The last claim came back full: more jobs are probably due. */
  private moreDue = false;
  private started = false;
  private stopping = false;
  private outage: { since: number; failures: number; loggedAt: number } | null = null;
  private resumeAt = 0;
  private lastPollAt: number | null = null;
  private nextPruneAt = 0;
  private nextReapAt = 0;
  private wakeups: { stop(): Promise<void> } | null = null;

  constructor(
    @Inject(JOBS_RESOLVED_OPTIONS) private readonly options: ResolvedJobsOptions,
    private readonly registry: JobsRegistry,
    private readonly store: JobStore,
    private readonly scheduler: SchedulerRegistry,
    private readonly events: JobsEvents,
  ) {}

  onApplicationBootstrap(): void {
    this.scheduler.addInterval(
      RUNNER_LEASE_INTERVAL,
      setInterval(() => void this.maintain(), Math.max(100, Math.floor(this.options.lease / 3))),
    );
    if (!this.options.runner) return;
    this.started = true;
    if (this.options.notify)
      this.wakeups = this.store.listenForWakeups(this.owner, () => this.wake());
    this.scheduler.addInterval(
      RUNNER_POLL_INTERVAL,
      setInterval(() => this.tick(), this.options.pollInterval),
    );
    this.wake();
  }

  /**
   * A poll interval has passed. An idle instance spends at most one statement per interval: when
   * housekeeping (freeing expired leases, pruning) is due, it takes this tick instead of the claim.
   */
  private tick(): void {
    if (!this.started || this.stopping) return;
    if (this.idle() && this.housekeepingDue(Date.now()) && !this.polling) void this.housekeep();
    else this.wake();
  }

  private idle(): boolean {
    return (
      this.running.size === 0 &&
      this.ready.length === 0 &&
      !this.moreDue &&
      this.buffer.length === 0
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.wakeups?.stop();
    for (const name of [RUNNER_POLL_INTERVAL, RUNNER_LEASE_INTERVAL]) {
      if (this.scheduler.doesExist('interval', name)) this.scheduler.deleteInterval(name);
    }
    await this.polling;
    await this.drain();
    await this.flush();
  }

  /** What a health check needs: is the runner on, when did it last reach the database, how busy is it. */
  status(): {
    enabled: boolean;
    stopping: boolean;
    lastPollAt: number | null;
    running: number;
    claimed: number;
    pollInterval: number;
  } {
    return {
      enabled: this.started,
      stopping: this.stopping,
      lastPollAt: this.lastPollAt,
      running: this.running.size,
      claimed: this.ready.length,
      pollInterval: this.options.pollInterval,
    };
  }

  /** Whether a job of this kind and queue, due now, would be claimed here at once if we were woken. */
  canTakeNow(kind: string, queue: string): boolean {
    return (
      this.started &&
      !this.stopping &&
      Date.now() >= this.resumeAt &&
      this.registry.has(kind) &&
      (this.options.queues === null || this.options.queues.includes(queue)) &&
      this.options.concurrency - this.running.size > this.ready.length
    );
  }

  /** Asks for a poll soon (a job was enqueued here, or a slot freed up while more are due). */
  wake(): void {
    if (!this.started || this.stopping) return;
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.polling = this.poll().finally(() => {
      this.polling = null;
      if (this.pollAgain) {
        this.pollAgain = false;
        this.wake();
      }
    });
  }

  private async poll(): Promise<void> {
    if (Date.now() < this.resumeAt) return;
    try {
      for (;;) {
        // Let timers and I/O in first: with a synchronous driver (better-sqlite3) a claim resolves
        // without leaving the microtask queue, and a busy runner would starve the outcome writes
        // and the lease renewals.
        await new Promise((resolve) => setImmediate(resolve));
        const limit = this.stopping ? 0 : this.claimLimit();
        if (limit === 0) return;
        const jobs = await this.claim(limit, Date.now());
        this.lastPollAt = Date.now();
        this.databaseReachable();
        this.ready.push(...jobs);
        this.startReady();
        this.moreDue = jobs.length === limit;
        if (!this.moreDue) return;
      }
    } catch (error) {
      this.databaseUnreachable(error);
    }
  }

  /**
   * How many jobs to claim now: 0 while fewer than half of the wanted ones are missing, or while
   * unwritten outcomes pile up (the database is slower than the handlers: let it catch up).
   */
  private claimLimit(): number {
    const wanted = this.options.concurrency - this.running.size + this.prefetchTarget();
    const missing = wanted - this.ready.length;
    if (missing < Math.max(1, wanted / 2)) return 0;
    if (this.buffer.length >= Math.max(this.options.concurrency, this.options.batchSize)) return 0;
    return Math.min(missing, this.options.batchSize);
  }

  /** Jobs worth holding beyond the free slots: `prefetch` ms of work at the recent finish rate. */
  private prefetchTarget(): number {
    const now = Date.now();
    const elapsed = now - this.rateWindow.start;
    if (elapsed >= RATE_WINDOW_MS) {
      const observed = this.rateWindow.finished / elapsed;
      this.rate = (this.rate + observed) / 2;
      this.rateWindow = { start: now, finished: 0 };
    }
    return Math.min(Math.floor(this.rate * this.options.prefetch), this.options.batchSize);
  }

  /** Starts claimed jobs while there are free slots. */
  private startReady(): void {
    while (
      !this.stopping &&
      this.ready.length > 0 &&
      this.running.size < this.options.concurrency
    ) {
      this.start(this.ready.shift()!);
    }
  }

  private claim(limit: number, now: number): Promise<ClaimedJob[]> {
    const kinds = this.registry.names();
    if (kinds.length === 0) return Promise.resolve([]);
    return this.store.claim({
      owner: this.owner,
      limit,
      now,
      leaseUntil: Date.now() + this.options.lease,
      kinds,
      queues: this.options.queues,
    });
  }

  private start(job: ClaimedJob): RunningJob {
    const controller = new RunAbort();
    const done = runJob(job, this.registry.get(job.kind), controller, {
      owner: this.owner,
      maxBackoff: this.options.maxBackoff,
      now: Date.now,
    });
    const entry: RunningJob = { job, controller, done };
    this.running.set(job.id, entry);
    this.events.emit('started', job, { attempt: job.attempts });
    void done.then((outcome) => this.finished(entry, outcome));
    return entry;
  }

  private finished(entry: RunningJob, outcome: RunOutcome): void {
    // A job released at shutdown is no longer ours: its late outcome is dropped.
    if (this.running.get(entry.job.id) !== entry) return;
    this.running.delete(entry.job.id);
    this.rateWindow.finished++;
    this.report(entry.job, outcome);
    this.buffer.push({ update: outcome.update, deadline: Date.now() + this.options.lease });
    this.scheduleFlush();
    this.startReady();
    this.wakeIfWanted();
  }

  /** Claims again if the slots and the buffer want enough jobs (see claimLimit). */
  private wakeIfWanted(): void {
    if (this.moreDue && this.claimLimit() > 0) this.wake();
  }

  private report(job: ClaimedJob, outcome: RunOutcome): void {
    this.events.emit(EVENT_OF[outcome.verdict], job, {
      attempt: job.attempts,
      error: outcome.error,
    });
    const label = `${job.kind} #${job.id} (attempt ${job.attempts}/${job.maxAttempts})`;
    if (outcome.verdict === 'retrying' || outcome.verdict === 'failed') {
      const reason = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
      this.logger.warn(
        `${label} ${outcome.verdict === 'failed' ? 'failed for good' : 'failed, will retry'}: ${reason}`,
      );
    } else {
      this.logger.debug(`${label} ${outcome.verdict}`);
    }
  }

  /** Outcomes that end at the same moment are written in one transaction. */
  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.write(batch).finally(() => (this.flushing = null));
    await this.flushing;
    // Claims wait while unwritten outcomes pile up (see claimLimit): now that they are written, claim again.
    this.wakeIfWanted();
  }

  private async write(batch: BufferedUpdate[]): Promise<void> {
    try {
      const held = await this.store.finish(
        batch.map((entry) => entry.update),
        this.options.retention.succeeded === 0,
      );
      held.forEach((ok, i) => ok || this.logger.warn(messages.leaseLost(batch[i].update.id)));
    } catch (error) {
      // Keep what can still be written; the rest will run again once its lease expires.
      const now = Date.now();
      for (const entry of batch) {
        if (entry.deadline > now) this.buffer.push(entry);
        else this.logger.warn(messages.resultNotSaved(entry.update.id, (error as Error).message));
      }
    }
  }

  /**
   * Every lease / 3: renews the leases of running jobs and retries unwritten outcomes. Housekeeping
   * happens here while the instance is busy, and during an outage, where its statement is the probe
   * that notices the database is back (an idle instance does it from `tick` instead).
   */
  private async maintain(): Promise<void> {
    try {
      const now = Date.now();
      const held = [...this.running.keys(), ...this.ready.map((job) => job.id)];
      if (held.length > 0) await this.store.renew(this.owner, held, now + this.options.lease);
      if (this.buffer.length > 0) await this.flush();
      if (
        this.started &&
        !this.stopping &&
        (this.outage || (!this.idle() && this.housekeepingDue(now)))
      ) {
        await this.housekeep();
      }
    } catch (error) {
      this.databaseUnreachable(error);
    }
  }

  private housekeepingDue(now: number): boolean {
    return now >= this.nextReapAt || now >= this.nextPruneAt;
  }

  /**
   * Frees expired leases (every lease / 2) and prunes finished jobs past their retention (every
   * minute), one statement each when there is nothing to do.
   */
  private async housekeep(): Promise<void> {
    try {
      const now = Date.now();
      if (now >= this.nextReapAt || this.outage) {
        this.nextReapAt = now + Math.floor(this.options.lease / 2);
        await this.store.reapExpired(
          now,
          logLine(now, 'lease expired: the instance running it stopped or lost the database'),
        );
      }
      if (now >= this.nextPruneAt) {
        this.nextPruneAt = now + PRUNE_EVERY_MS;
        const rules = Object.entries(this.options.retention)
          .filter((entry): entry is [JobStatus, number] => entry[1] !== null)
          .map(([status, keep]) => ({ status, before: now - keep }));
        await this.store.pruneFinished(rules);
      }
      // A statement went through: if the database was down, claim again without waiting out the backoff.
      if (this.outage) {
        this.databaseReachable();
        this.wake();
      }
    } catch (error) {
      this.databaseUnreachable(error);
    }
  }

  /**
   * Gives back the jobs claimed but not started, waits for running handlers up to the grace
   * period, then aborts and releases the rest.
   */
  private async drain(): Promise<void> {
    const unstarted = this.ready;
    this.ready = [];
    if (unstarted.length > 0) {
      await this.releaseJobs(
        unstarted.map((job) => job.id),
        'released unstarted at shutdown',
      );
    }
    if (this.running.size === 0) return;
    const grace = this.options.shutdownTimeout;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running.values()].map((entry) => entry.done)),
      new Promise((resolve) => (timer = setTimeout(resolve, grace))),
    ]);
    clearTimeout(timer);
    // Let the outcomes that just arrived be recorded before deciding what is left.
    await new Promise((resolve) => setImmediate(resolve));
    const left = [...this.running.values()];
    if (left.length === 0) return;
    this.running.clear();
    for (const entry of left)
      entry.controller.abort(new Error('The application is shutting down.'));
    this.logger.warn(messages.shutdownAborted(left.length, grace));
    await this.releaseJobs(
      left.map((entry) => entry.job.id),
      'released unfinished at shutdown',
    );
  }

  /** Makes jobs we hold due again at once, the interrupted attempt not counted. */
  private async releaseJobs(ids: number[], note: string): Promise<void> {
    const now = Date.now();
    try {
      await this.store.release(this.owner, ids, now, logLine(now, note));
    } catch (error) {
      this.logger.error(messages.resultNotSaved(ids[0], (error as Error).message));
    }
  }

  /** Runs every job due now once, in this process, and reports what happened (the seed's cron command). */
  async runPending(): Promise<RunPendingSummary> {
    const summary: RunPendingSummary = { ran: 0, succeeded: 0, failed: 0, snoozed: 0 };
    const cutoff = Date.now();
    for (;;) {
      const jobs = await this.claim(this.options.concurrency, cutoff);
      if (jobs.length === 0) return summary;
      const entries = jobs.map((job) => this.start(job));
      const outcomes = await Promise.all(entries.map((entry) => entry.done));
      await this.flush();
      for (const outcome of outcomes) {
        summary.ran++;
        if (outcome.verdict === 'retrying' || outcome.verdict === 'failed') summary.failed++;
        else if (outcome.verdict === 'snoozed') summary.snoozed++;
        else summary.succeeded++;
      }
    }
  }

  private databaseReachable(): void {
    if (!this.outage) return;
    this.logger.log(messages.outageOver(Math.round((Date.now() - this.outage.since) / 1000)));
    this.outage = null;
    this.resumeAt = 0;
  }

  /** Logs an outage once per backoff step, not once per poll, and polls less often while it lasts. */
  private databaseUnreachable(error: unknown): void {
    const now = Date.now();
    const outage = (this.outage ??= { since: now, failures: 0, loggedAt: 0 });
    outage.failures++;
    const wait = Math.min(
      this.options.pollInterval * 2 ** (outage.failures - 1),
      MAX_OUTAGE_BACKOFF,
    );
    this.resumeAt = now + wait;
    if (now - outage.loggedAt >= MAX_OUTAGE_BACKOFF || outage.loggedAt === 0) {
      outage.loggedAt = now;
      this.logger.warn(messages.outage((error as Error)?.message ?? String(error), wait));
    }
  }
}
