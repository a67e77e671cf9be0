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
import type { RunPendingOptions, RunPendingSummary } from '../interfaces/jobs-service.interface.js';
import { JobStore } from '../storage/job.store.js';
import type { ClaimedJob } from '../storage/job-rows.js';
import { JobsEvents, type JobEventName } from '../events/jobs.events.js';
import { summarizeError } from './error-text.js';
import { Housekeeper } from './housekeeper.js';
import { logLine, RunAbort, runJob, type RunOutcome, type RunVerdict } from './job-execution.js';
import { LocalQueue } from './local-queue.js';
import { OutageTracker } from './outage.js';
import { OutcomeWriter, type WrittenRun } from './outcome-writer.js';
import { WakeTimer } from './wake-timer.js';
import { Wakeups } from '../wakeups/wakeups.js';

interface RunningJob {
  job: ClaimedJob;
  controller: RunAbort;
  done: Promise<RunOutcome>;
}

/** How long `runPending` waits at most when neither it nor the module's `timeout` says. */
const RUN_PENDING_BOUND = 30 * 60_000;

const EVENT_OF: Record<RunVerdict, JobEventName> = {
  succeeded: 'succeeded',
  rescheduled: 'succeeded',
  snoozed: 'snoozed',
  retrying: 'failed',
  failed: 'dead',
};

/**
 * The scheduled runner: polls for due jobs, claims them into its LocalQueue, runs them under a
 * concurrency limit and drains on shutdown. Its helpers each own one chore: the OutcomeWriter
 * writes outcomes in batches, the Housekeeper frees expired leases and prunes, the OutageTracker
 * paces claims while the database is away, the WakeTimer wakes it when a delayed job is due.
 */
@Injectable()
export class JobsRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  /** Names this instance in `locked_by`; unique per process start. */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly logger = new Logger('JobsRunner');
  private readonly running = new Map<number, RunningJob>();
  private readonly queue: LocalQueue;
  private readonly outcomes: OutcomeWriter;
  private readonly housekeeper: Housekeeper;
  private readonly outage: OutageTracker;
  private readonly timer = new WakeTimer(() => this.wake());
  private polling: Promise<void> | null = null;
  private pollAgain = false;
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

  /**
   * A poll interval has passed. An idle instance spends at most one statement per interval: when
   * housekeeping is due, it takes this tick instead of the claim.
   */
  private tick(): void {
    if (!this.started || this.stopping) return;
    if (this.idle() && this.housekeeper.due(Date.now()) && !this.polling) void this.housekeep();
    else this.wake();
  }

  private idle(): boolean {
    return (
      this.running.size === 0 && this.queue.size === 0 && !this.moreDue && this.outcomes.size === 0
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.timer.stop();
    await this.wakeups.stop();
    for (const name of [RUNNER_POLL_INTERVAL, RUNNER_LEASE_INTERVAL]) {
      if (this.scheduler.doesExist('interval', name)) this.scheduler.deleteInterval(name);
    }
    await this.polling;
    await this.drain();
    await this.outcomes.flush();
    // Listeners told of the last outcomes may still read the database: it closes after this.
    await this.events.settle(this.options.shutdownTimeout);
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
    if (!this.started || this.stopping) return;
    if (at <= Date.now()) this.wake();
    else this.timer.wakeAt(at);
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
      this.outage.unreachable(error);
    }
  }

  /** Starts claimed jobs while there are free slots. */
  private startReady(): void {
    while (!this.stopping && this.queue.size > 0 && this.running.size < this.options.concurrency) {
      this.start(this.queue.take()!);
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
    if (this.events.active) {
      this.events.emit('started', job, { attempt: job.attempts, data: parseData(job) });
    }
    // No rejection of a run may go unhandled: one would take the whole process down.
    done
      .then((outcome) => this.finished(entry, outcome))
      .catch((error: unknown) =>
        this.logger.error(messages.runnerFault(job.id, summarizeError(error))),
      );
    return entry;
  }

  private finished(entry: RunningJob, outcome: RunOutcome): void {
    // A job released at shutdown is no longer ours: its late outcome is dropped.
    if (this.running.get(entry.job.id) !== entry) return;
    this.running.delete(entry.job.id);
    this.queue.finishedOne();
    this.log(entry.job, outcome);
    this.outcomes.add(entry.job, outcome);
    this.startReady();
    this.wakeIfWanted();
  }

  /** Claims again if the slots and the buffer want enough jobs (see LocalQueue.claimLimit). */
  private wakeIfWanted(): void {
    if (this.moreDue && this.queue.claimLimit(this.running.size, this.outcomes.size) > 0) {
      this.wake();
    }
  }

  private log(job: ClaimedJob, outcome: RunOutcome): void {
    const label = `${job.kind} #${job.id} (attempt ${job.attempts}/${job.maxAttempts})`;
    if (outcome.verdict === 'retrying' || outcome.verdict === 'failed') {
      const how = outcome.verdict === 'failed' ? 'failed for good' : 'failed, will retry';
      this.logger.warn(`${label} ${how}: ${summarizeError(outcome.error)}`);
    } else {
      this.logger.debug(`${label} ${outcome.verdict}`);
    }
  }

  /**
   * Outcomes are stored: a job due again soon (a retry, a snooze, a periodic run) gets a wake-up,
   * and listeners are told, with the job's data and result.
   */
  private announce(runs: WrittenRun[]): void {
    for (const { outcome } of runs) {
      if (outcome.update.status === 'pending') this.wakeAt(outcome.update.runAt);
    }
    if (!this.events.active) return;
    for (const { job, outcome } of runs) {
      const { result } = outcome.update;
      this.events.emit(EVENT_OF[outcome.verdict], job, {
        attempt: job.attempts,
        error: outcome.error,
        data: parseData(job),
        ...(result === null ? {} : { result: JSON.parse(result) }),
      });
    }
  }

  /**
   * Every lease / 3: renews the leases of running and claimed jobs and retries unwritten outcomes.
   * Housekeeping happens here while the instance is busy, and during an outage, where its
   * statement is the probe that notices the database is back (an idle instance does it from `tick`).
   */
  private async maintain(): Promise<void> {
    try {
      const now = Date.now();
      const held = [...this.running.keys(), ...this.queue.ids()];
      if (held.length > 0) await this.store.renew(this.owner, held, now + this.options.lease);
      if (this.outcomes.size > 0) await this.outcomes.flush();
      const busy = !this.idle() && this.housekeeper.due(now);
      if (this.started && !this.stopping && (this.outage.active || busy)) await this.housekeep();
    } catch (error) {
      this.outage.unreachable(error);
    }
  }

  private async housekeep(): Promise<void> {
    try {
      await this.housekeeper.run(Date.now(), this.outage.active);
      // A statement went through: if the database was down, claim again without waiting out the backoff.
      if (this.outage.reachable()) this.wake();
    } catch (error) {
      this.outage.unreachable(error);
    }
  }

  /**
   * Gives back the jobs claimed but not started, waits for running handlers up to the grace
   * period, then aborts and releases the rest.
   */
  private async drain(): Promise<void> {
    const unstarted = this.queue.release();
    if (unstarted.length > 0) {
      await this.releaseJobs(
        unstarted.map((job) => job.id),
        'released unstarted at shutdown',
      );
    }
    if (this.running.size === 0) return;
    const grace = this.options.shutdownTimeout;
    await settledWithin(
      [...this.running.values()].map((entry) => entry.done),
      grace,
    );
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
      this.logger.error(messages.resultNotSaved(ids[0], summarizeError(error)));
    }
  }

  /**
   * Runs every job due now once, in this process, and reports what happened (the seed's cron
   * command). Returns after `timeout` ms at the latest: jobs still running then go on here, their
   * outcomes written as usual, and are counted as `unfinished`.
   */
  async runPending(options: RunPendingOptions = {}): Promise<RunPendingSummary> {
    const summary: RunPendingSummary = {
      ran: 0,
      succeeded: 0,
      failed: 0,
      snoozed: 0,
      unfinished: 0,
    };
    const cutoff = Date.now();
    const deadline = cutoff + (options.timeout ?? (this.options.timeout || RUN_PENDING_BOUND));
    while (Date.now() < deadline) {
      const jobs = await this.claim(this.options.concurrency, cutoff);
      if (jobs.length === 0) break;
      const runs = jobs.map((job) => this.start(job).done);
      const outcomes = await settledWithin(runs, deadline - Date.now());
      await this.outcomes.flush();
      for (const outcome of outcomes) {
        if (outcome === undefined) {
          summary.unfinished++;
          continue;
        }
        summary.ran++;
        if (outcome.verdict === 'retrying' || outcome.verdict === 'failed') summary.failed++;
        else if (outcome.verdict === 'snoozed') summary.snoozed++;
        else summary.succeeded++;
      }
      if (summary.unfinished > 0) break;
    }
    return summary;
  }
}

/** The job's data for an event (parsed only when someone listens). */
function parseData(job: ClaimedJob): unknown {
  return JSON.parse(job.data);
}

/**
 * Waits for the promises, at most `timeout` ms; returns each one's value, or undefined for those
 * not settled by then (or rejected).
 */
async function settledWithin<T>(
  promises: Promise<T>[],
  timeout: number,
): Promise<Array<T | undefined>> {
  const values = new Array<T | undefined>(promises.length);
  const all = Promise.allSettled(
    promises.map((promise, i) => promise.then((value) => (values[i] = value))),
  );
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    all,
    new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, timeout)))),
  ]);
  clearTimeout(timer);
  return [...values];
}
