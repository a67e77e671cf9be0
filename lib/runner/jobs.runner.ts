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
import type { DataSource } from 'typeorm';
import {
  JOBS_DATA_SOURCE,
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
import { FlowSettler } from '../flows/flow-settler.js';
import { LeaseKeeper } from './lease-keeper.js';
import { LocalQueue } from './local-queue.js';
import { OutageTracker } from './outage.js';
import { OutcomeWriter, type WrittenRun } from './outcome-writer.js';
import { RunningJobs } from './running-jobs.js';
import { runPending } from './run-pending.js';
import { Poller } from './poller.js';
import { Wakeups } from '../wakeups/wakeups.js';
import { isTransient } from '../storage/transient.js';
import { JobsShutdownError } from '../errors/jobs.errors.js';
import { ProgressWriter } from './progress-writer.js';
import { RunOwnership } from './run-ownership.js';
import { transactor } from './job-transaction.js';
import { LimitedClaimer } from '../limits/limited-claimer.js';
import { JobsTelemetry } from '../telemetry/jobs.telemetry.js';

/** How long `runPending` waits at most when neither it nor the module's `timeout` says. */
const RUN_PENDING_BOUND = 30 * 60_000;

/**
 * The scheduled runner: claims due jobs into its LocalQueue, runs them (RunningJobs) and drains on
 * shutdown. One unit per chore: Poller, OutcomeWriter, ProgressWriter, RunOwnership (leases,
 * cancels, lost leases), Housekeeper, OutageTracker.
 */
@Injectable()
export class JobsRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  /** Names this instance in `locked_by`; unique per process start. */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  readonly logger = new Logger('JobsRunner');
  private readonly running: RunningJobs;
  private readonly queue: LocalQueue;
  private readonly outcomes: OutcomeWriter;
  private readonly housekeeper: Housekeeper;
  private readonly flows: FlowSettler;
  private readonly outage: OutageTracker;
  private readonly leases: LeaseKeeper;
  private readonly ownership: RunOwnership;
  private readonly limited: LimitedClaimer;
  private readonly poller = new Poller(
    () => this.poll(),
    () => this.started && !this.stopping,
  );
  /** The last claim came back full: more jobs are probably due. */
  private moreDue = false;
  /** The last poll claimed nothing and saw no due limited job: the next looks first (mixed kinds). */
  private nothingDue = false;
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
    @Inject(JOBS_DATA_SOURCE) dataSource: DataSource,
    telemetry: JobsTelemetry,
  ) {
    this.queue = new LocalQueue(options);
    this.leases = new LeaseKeeper(store, this.owner, options.lease, this.logger);
    const deleteSucceeded = options.retention.succeeded === 0;
    const progress = new ProgressWriter(store, this.owner, {
      written: (job, value) =>
        this.events.emit('progress', job, { attempt: job.attempts, progress: value }),
      warn: (message) => this.logger.warn(message),
    });
    this.running = new RunningJobs(
      registry,
      events,
      {
        owner: this.owner,
        maxBackoff: options.maxBackoff,
        now: Date.now,
        progress: (job, value) => progress.report(job, value),
        dependencies: (job) => store.dependenciesOf(job.id),
        transact: transactor(dataSource, store, progress, deleteSucceeded, (job, yes) =>
          this.running.committed(job, yes),
        ),
      },
      progress,
      {
        warn: (message) => this.logger.warn(message),
        error: (message) => this.logger.error(message),
        debug: (message) => this.logger.debug(message),
        debugEnabled: () => Logger.isLevelEnabled('debug'),
      },
      {
        outcome: (job, outcome) => {
          this.queue.finishedOne();
          this.outcomes.add(job, outcome);
          this.startReady();
          this.wakeIfWanted();
        },
        freed: () => {
          this.startReady();
          this.wakeIfWanted();
        },
      },
      telemetry,
    );
    this.ownership = new RunOwnership(store, this.owner, this.leases, this.running, this.queue);
    wakeups.subscribe((message, ids) => {
      if (message === 'cancelled') this.ownership.cancelled(ids);
    });
    this.flows = new FlowSettler(store, wakeups, (message) => this.logger.warn(message));
    this.housekeeper = new Housekeeper(
      store,
      options,
      () => registry.names(),
      () => this.flows.sweep(),
    );
    this.outage = new OutageTracker(options.pollInterval, this.logger);
    this.limited = new LimitedClaimer(
      store,
      registry,
      {
        owner: this.owner,
        lease: options.lease,
        concurrency: options.concurrency,
        pollInterval: options.pollInterval,
        queues: options.queues,
      },
      {
        room: () =>
          this.stopping ? 0 : this.queue.claimLimit(this.running.size, this.outcomes.size),
        free: () => Math.max(0, options.concurrency - this.running.size - this.queue.size),
        inUse: (kind) => this.inUse(kind),
        running: (kind) => this.runningOf(kind),
        finishedIn: (ms) => this.queue.finishedIn(ms),
        claim: (kinds, limit, dueBy) => this.claim(kinds, limit, dueBy),
        take: (jobs) => {
          this.queue.add(jobs);
          this.startReady();
        },
        wakeAt: (at) => this.wakeAt(at),
        wake: () => this.wake(),
      },
    );
    this.outcomes = new OutcomeWriter(
      store,
      { lease: options.lease, deleteSucceeded },
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

  /**
   * A poll interval has passed; an idle instance's housekeeping takes the tick's one statement.
   * A busy instance checks that its runs are still its own: the cancels of instances that send no
   * NOTIFY (MariaDB, SQLite, `notify: false`, a NOTIFY lost) reach it within a poll interval.
   */
  private tick(): void {
    if (!this.started || this.stopping) return;
    if (this.running.size > 0) {
      this.ownership.check().catch((error: unknown) => this.maintenanceFailed(error));
    }
    if (this.idle() && this.housekeeper.due(Date.now()) && !this.poller.busy) void this.housekeep();
    else this.wake();
  }

  /** Nothing running, claimed, unwritten or known to be due here (see Wakeups). */
  idle(): boolean {
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
    // The last ends' dependents and batches, before the data source closes (else: the sweep).
    await this.flows.idle();
    await this.limited.drop().catch((error: unknown) => this.maintenanceFailed(error));
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
      // With kinds of both sorts, an idle instance looks once for any due job (one statement per
      // poll, as without limits) before claiming each sort apart.
      const mixed = this.limited.active && this.registry.unlimitedNames().length > 0;
      if (mixed && this.nothingDue) {
        const due = {
          now: Date.now(),
          kinds: this.registry.names(),
          queues: this.options.queues,
          priorities: this.registry.usualPriorities(),
        };
        const any = await this.store.anyDue(due);
        this.lastPollAt = Date.now();
        this.outage.reachable();
        if (!any) return;
        this.limited.mayBeDue();
      }
      const plain = await this.claimPlain();
      if (this.limited.active) {
        await this.limited.claim();
        this.lastPollAt = Date.now();
        this.outage.reachable();
      }
      this.nothingDue = plain === 0 && !this.limited.sawDue;
    } catch (error) {
      // A deadlock with another statement is no outage: claim again shortly.
      if (isTransient(error)) setTimeout(() => this.wake(), 10 + Math.random() * 40).unref();
      else this.outage.unreachable(error);
    }
  }

  /**
   * Claims jobs of the kinds without limits, batch after batch while they come back full; returns
   * how many (-1 when it did not claim: no free slot or buffer space).
   */
  private async claimPlain(): Promise<number> {
    if (this.registry.unlimitedNames().length === 0) return 0;
    let claimed = -1;
    for (;;) {
      // Let timers and I/O in first: with a synchronous driver (better-sqlite3) a claim resolves
      // without leaving the microtask queue, and a busy runner would starve the outcome writes
      // and the lease renewals.
      await new Promise((resolve) => setImmediate(resolve));
      const limit = this.stopping
        ? 0
        : this.queue.claimLimit(this.running.size, this.outcomes.size);
      if (limit === 0) return claimed;
      const jobs = await this.claim(this.registry.unlimitedNames(), limit, Date.now());
      claimed = Math.max(claimed, 0) + jobs.length;
      this.lastPollAt = Date.now();
      this.outage.reachable();
      this.queue.add(jobs);
      this.startReady();
      this.moreDue = jobs.length === limit;
      if (!this.moreDue) return claimed;
    }
  }

  /** Jobs of a kind in hand: running, claimed ahead, or with their outcome not written yet. */
  private inUse(kind: string): number {
    let n = 0;
    for (const job of this.queue.held()) if (job.kind === kind) n++;
    for (const job of this.running.claims()) if (job.kind === kind) n++;
    for (const job of this.outcomes.pending()) if (job.kind === kind) n++;
    return n;
  }

  /** Handlers of a kind running here. */
  private runningOf(kind: string): number {
    let n = 0;
    for (const job of this.running.claims()) if (job.kind === kind) n++;
    return n;
  }

  /** Starts claimed jobs while there are free slots; gives back those whose lease ran out meanwhile. */
  private startReady(): void {
    while (!this.stopping && this.queue.size > 0 && this.running.size < this.options.concurrency) {
      const job = this.queue.take(Date.now(), this.limited.startGate);
      if (!job) break;
      void this.running.start(job);
    }
    const expired = this.queue.takeExpired();
    if (expired.length > 0) {
      void this.leases.release(expired, 'claimed ahead, its lease ran out before it could start');
    }
  }

  /** The plain claim of these kinds: one statement, no lock. */
  private claim(kinds: string[], limit: number, now: number): Promise<ClaimedJob[]> {
    if (kinds.length === 0) return Promise.resolve([]);
    return this.store.claim({
      owner: this.owner,
      limit,
      now,
      leaseUntil: this.leases.until(Date.now()),
      kinds,
      queues: this.options.queues,
      priorities: this.registry.usualPriorities(),
      asyncCommit: this.options.asyncClaimCommit,
    });
  }

  /** Claims again if the slots and the buffer want enough jobs (see LocalQueue.claimLimit). */
  private wakeIfWanted(): void {
    if (this.moreDue && this.queue.claimLimit(this.running.size, this.outcomes.size) > 0) {
      this.wake();
    }
  }

  /**
   * Outcomes are stored: a job due again (retry, snooze, periodic) gets a wake-up; those that ended
   * are announced to waiters (JobWaiters); listeners are told.
   */
  private announce(runs: WrittenRun[]): void {
    let ended: number[] | null = null;
    let awaited: number[] | null = null;
    let linked: number[] | null = null;
    for (const { job, outcome } of runs) {
      if (outcome.update.status === 'pending') this.wakeAt(outcome.update.runAt);
      else (ended ??= []).push(job.id);
      if (outcome.awaited) (awaited ??= []).push(job.id);
      if (outcome.linked && outcome.update.status !== 'pending') (linked ??= []).push(job.id);
    }
    if (ended) this.wakeups.ended(ended, awaited ?? []);
    // Dependents, and batches, of jobs that ended (lib/flows/): only jobs that have them.
    if (linked) this.flows.settle(linked);
    // A limited kind's slot is free once its outcome is stored: a job it held back may start.
    if (this.limited.active) this.limited.freed(runs.map((run) => run.job.kind));
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
      await this.ownership.renew(now);
      await this.limited.renew(now);
      if (this.outcomes.size > 0) await this.outcomes.flush();
      const busy = !this.idle() && this.housekeeper.due(now);
      if (this.started && !this.stopping && (this.outage.active || busy)) await this.housekeep();
    } catch (error) {
      this.maintenanceFailed(error);
    }
  }

  /** A deadlock is no outage: the next round (lease / 3 later) renews in time. */
  private maintenanceFailed(error: unknown): void {
    if (!isTransient(error)) this.outage.unreachable(error);
  }

  private async housekeep(): Promise<void> {
    try {
      await this.housekeeper.run(Date.now(), this.outage.active);
      // A statement went through: if the database was down, claim again at once.
      if (this.outage.reachable()) this.wake();
    } catch (error) {
      this.maintenanceFailed(error);
    }
  }

  /** Gives back the jobs not started; waits for runs up to the grace, then aborts and releases. */
  private async drain(): Promise<void> {
    await this.leases.release(this.queue.release(), 'released unstarted at shutdown');
    const grace = this.options.shutdownTimeout;
    const left = await this.running.stop(grace, new JobsShutdownError(grace));
    if (left.length > 0) this.logger.warn(messages.shutdownAborted(left.length, grace));
    await this.leases.release(left, 'released unfinished at shutdown');
  }

  /** Runs every job due now once, in this process (see run-pending.ts). */
  async runPending(options: RunPendingOptions = {}): Promise<RunPendingSummary> {
    const timeout = options.timeout ?? (this.options.timeout || RUN_PENDING_BOUND);
    // A cron-only setup runs jobs here alone: its kinds are handled too.
    await this.store.confirmHandlers(this.registry.names(), Date.now());
    return runPending(
      {
        claim: async (limit, cutoff) => {
          const plain = await this.claim(this.registry.unlimitedNames(), limit, cutoff);
          if (plain.length === limit || !this.limited.active) return plain;
          return [...plain, ...(await this.limited.claimOnce(limit - plain.length, cutoff))];
        },
        start: (job) => this.running.start(job),
        flush: () => this.outcomes.flush(),
        batch: this.options.concurrency,
      },
      timeout,
    );
  }
}
