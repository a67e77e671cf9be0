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
import type {
  RunnerStatus,
  RunPendingOptions,
  RunPendingSummary,
} from '../interfaces/jobs-service.interface.js';
import { JobStore } from '../storage/job.store.js';
import type { ClaimedJob } from '../storage/job-rows.js';
import { JobsEvents } from '../events/jobs.events.js';
import { Housekeeper } from './housekeeper.js';
import { LeaseKeeper } from './lease-keeper.js';
import { LocalQueue } from './local-queue.js';
import { OutageTracker } from './outage.js';
import { OutcomeWriter, type WrittenRun } from './outcome-writer.js';
import { RunningJobs } from './running-jobs.js';
import { runPending } from './run-pending.js';
import { Poller } from './poller.js';
import { Wakeups } from '../wakeups/wakeups.js';
import { isTransient } from '../storage/transient.js';

/** How long `runPending` waits at most when neither it nor the module's `timeout` says. */
const RUN_PENDING_BOUND = 30 * 60_000;

/**
 * The scheduled runner: claims due jobs into its LocalQueue, runs them (RunningJobs) and drains on
 * shutdown. One unit per chore: Poller, OutcomeWriter, LeaseKeeper, Housekeeper, OutageTracker.
 */
@Injectable()
export class JobsRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  /** Names this instance in `locked_by`; unique per process start. */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly logger = new Logger('JobsRunner');
  private readonly running: RunningJobs;
  private readonly queue: LocalQueue;
  private readonly outcomes: OutcomeWriter;
  private readonly housekeeper: Housekeeper;
  private readonly outage: OutageTracker;
  private readonly leases: LeaseKeeper;
  private readonly poller = new Poller(
    () => this.poll(),
    () => this.started && !this.stopping,
  );
  /** The last claim came back full: more jobs are probably due. */
  private moreDue = false;
  private started = false;
  private stopping = false;
  private lastPollAt: number | null = null;

  constructor(
    @Inject(JOBS_RESOLVED_OPTIONS) private readonly options: ResolvedJobsOptions,
    private readonly registry: JobsRegistry,
    private readonly store: JobStore,
    private readonly scheduler: SchedulerRegistry,
    private readonly events: JobsEvents,
    private readonly wakeups: Wakeups,
  ) {
    this.queue = new LocalQueue(options);
    this.leases = new LeaseKeeper(store, this.owner, options.lease, this.logger);
    this.running = new RunningJobs(
      registry,
      events,
      { owner: this.owner, maxBackoff: options.maxBackoff, now: Date.now },
      this.logger,
      (job, outcome) => {
        this.queue.finishedOne();
        this.outcomes.add(job, outcome);
        this.startReady();
        this.wakeIfWanted();
      },
    );
    this.housekeeper = new Housekeeper(store, options, () => registry.names());
    this.outage = new OutageTracker(options.pollInterval, this.logger);
    this.outcomes = new OutcomeWriter(
      store,
      { lease: options.lease, deleteSucceeded: options.retention.succeeded === 0 },
      {
        written: (runs) => this.announce(runs),
        // Claims wait while unwritten outcomes pile up (see LocalQueue.claimLimit): claim again.
        flushed: () => this.wakeIfWanted(),
        warn: (message) => this.logger.warn(message),
      },
    );
  }

  onApplicationBootstrap(): void {
    this.scheduler.addInterval(
      RUNNER_LEASE_INTERVAL,
      setInterval(() => void this.maintain(), Math.max(100, Math.floor(this.options.lease / 3))),
    );
    this.wakeups.attach(this, this.options.runner);
    if (!this.options.runner) return;
    this.started = true;
    this.scheduler.addInterval(
      RUNNER_POLL_INTERVAL,
      setInterval(() => this.tick(), this.options.pollInterval),
    );
    this.wake();
  }

  /** A poll interval has passed; an idle instance's housekeeping takes the tick's one statement. */
  private tick(): void {
    if (!this.started || this.stopping) return;
    if (this.idle() && this.housekeeper.due(Date.now()) && !this.poller.busy) void this.housekeep();
    else this.wake();
  }

  private idle(): boolean {
    return (
      this.running.size === 0 && this.queue.size === 0 && !this.moreDue && this.outcomes.size === 0
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.wakeups.stop();
    for (const name of [RUNNER_POLL_INTERVAL, RUNNER_LEASE_INTERVAL]) {
      if (this.scheduler.doesExist('interval', name)) this.scheduler.deleteInterval(name);
    }
    await this.poller.stop();
    await this.drain();
    await this.outcomes.flush();
    // Listeners told of the last outcomes may still read the database: it closes after this.
    await this.events.settle(this.options.shutdownTimeout);
  }

  /** What a health check needs. */
  status(): RunnerStatus {
    return {
      enabled: this.started,
      stopping: this.stopping,
      lastPollAt: this.lastPollAt,
      running: this.running.size,
      claimed: this.queue.size,
      pollInterval: this.options.pollInterval,
    };
  }

  /** Whether a job of this kind and queue would be claimed here, were it due and we woken. */
  handles(kind: string, queue: string): boolean {
    return (
      this.started &&
      !this.stopping &&
      this.registry.has(kind) &&
      (this.options.queues === null || this.options.queues.includes(queue))
    );
  }

  /** Whether a job of this kind and queue, due now, would be claimed here at once if we were woken. */
  canTakeNow(kind: string, queue: string): boolean {
    return (
      this.handles(kind, queue) &&
      this.outage.mayClaim(Date.now()) &&
      this.options.concurrency - this.running.size > this.queue.size
    );
  }

  /** Claims at `at` (epoch ms; now or past: at once), for a job known to become due then. */
  wakeAt(at: number): void {
    this.poller.wakeAt(at);
  }

  /** Asks for a poll soon (a job was enqueued here, or a slot freed up while more are due). */
  wake(): void {
    this.poller.wake();
  }

  private async poll(): Promise<void> {
    if (!this.outage.mayClaim(Date.now())) return;
    try {
      for (;;) {
        // Let timers and I/O in first: with a synchronous driver (better-sqlite3) a claim resolves
        // without leaving the microtask queue, and a busy runner would starve the outcome writes
        // and the lease renewals.
        await new Promise((resolve) => setImmediate(resolve));
        const limit = this.stopping
          ? 0
          : this.queue.claimLimit(this.running.size, this.outcomes.size);
        if (limit === 0) return;
        const jobs = await this.claim(limit, Date.now());
        this.lastPollAt = Date.now();
        this.outage.reachable();
        this.queue.add(jobs);
        this.startReady();
        this.moreDue = jobs.length === limit;
        if (!this.moreDue) return;
      }
    } catch (error) {
      // A deadlock with another statement is no outage: claim again shortly.
      if (isTransient(error)) setTimeout(() => this.wake(), 10 + Math.random() * 40).unref();
      else this.outage.unreachable(error);
    }
  }

  /** Starts claimed jobs while there are free slots. */
  private startReady(): void {
    while (!this.stopping && this.queue.size > 0 && this.running.size < this.options.concurrency) {
      void this.running.start(this.queue.take()!);
    }
  }

  private claim(limit: number, now: number): Promise<ClaimedJob[]> {
    const kinds = this.registry.names();
    if (kinds.length === 0) return Promise.resolve([]);
    return this.store.claim({
      owner: this.owner,
      limit,
      now,
      leaseUntil: this.leases.until(Date.now()),
      kinds,
      queues: this.options.queues,
    });
  }

  /** Claims again if the slots and the buffer want enough jobs (see LocalQueue.claimLimit). */
  private wakeIfWanted(): void {
    if (this.moreDue && this.queue.claimLimit(this.running.size, this.outcomes.size) > 0) {
      this.wake();
    }
  }

  /** Outcomes are stored: a job due again (retry, snooze, periodic) gets a wake-up; listeners are told. */
  private announce(runs: WrittenRun[]): void {
    for (const { outcome } of runs) {
      if (outcome.update.status === 'pending') this.wakeAt(outcome.update.runAt);
    }
    this.running.announce(runs);
  }

  /**
   * Every lease / 3: renews the leases of running and claimed jobs and retries unwritten outcomes.
   * Housekeeping happens here while the instance is busy, and during an outage, where its
   * statement is the probe that notices the database is back (an idle instance does it from `tick`).
   */
  private async maintain(): Promise<void> {
    try {
      const now = Date.now();
      await this.leases.renew([...this.running.ids(), ...this.queue.ids()], now);
      if (this.outcomes.size > 0) await this.outcomes.flush();
      const busy = !this.idle() && this.housekeeper.due(now);
      if (this.started && !this.stopping && (this.outage.active || busy)) await this.housekeep();
    } catch (error) {
      // A deadlock is no outage; the next round (lease / 3 later) renews in time.
      if (!isTransient(error)) this.outage.unreachable(error);
    }
  }

  private async housekeep(): Promise<void> {
    try {
      await this.housekeeper.run(Date.now(), this.outage.active);
      // A statement went through: if the database was down, claim again at once.
      if (this.outage.reachable()) this.wake();
    } catch (error) {
      this.outage.unreachable(error);
    }
  }

  /** Gives back the jobs not started; waits for runs up to the grace, then aborts and releases. */
  private async drain(): Promise<void> {
    const unstarted = this.queue.release().map((job) => job.id);
    await this.leases.release(unstarted, 'released unstarted at shutdown');
    const grace = this.options.shutdownTimeout;
    const left = await this.running.stop(grace, new Error('The application is shutting down.'));
    if (left.length > 0) this.logger.warn(messages.shutdownAborted(left.length, grace));
    const unfinished = left.map((job) => job.id);
    await this.leases.release(unfinished, 'released unfinished at shutdown');
  }

  /** Runs every job due now once, in this process (see run-pending.ts). */
  async runPending(options: RunPendingOptions = {}): Promise<RunPendingSummary> {
    const timeout = options.timeout ?? (this.options.timeout || RUN_PENDING_BOUND);
    // A cron-only setup runs jobs here alone: its kinds are handled too.
    await this.store.confirmHandlers(this.registry.names(), Date.now());
    return runPending(
      {
        claim: (limit, cutoff) => this.claim(limit, cutoff),
        start: (job) => this.running.start(job),
        flush: () => this.outcomes.flush(),
        batch: this.options.concurrency,
      },
      timeout,
    );
  }
}
