import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import { JobEntity } from './entities/job.entity.js';
import { JobNotFoundError, JobNotRetryableError } from './errors/jobs.errors.js';
import {
  HANDLER_STALE_MS,
  JOBS_DATA_SOURCE,
  JOBS_RESOLVED_OPTIONS,
  WAITING_RUN_AT,
} from './jobs.constants.js';
import { JobsRegistry } from './jobs.registry.js';
import {
  checkEnqueueOptionKeys,
  checkEnqueueSpecs,
  checkListFilter,
  jobKindName,
  lookupId,
} from './options/index.js';
import type { AnyEnqueueSpec, EnqueueOptions } from './interfaces/enqueue-options.interface.js';
import type { ResolvedJobsOptions } from './interfaces/jobs-module-options.interface.js';
import type {
  CancelOptions,
  EnqueueBatchOptions,
  FlowSpec,
  JobBatch,
  JobBatchHandle,
  JobFlow,
  EnqueueAndWaitOptions,
  JobKindInfo,
  JobQueueInfo,
  UnhandledKind,
  ListJobsFilter,
  RunPendingOptions,
  RunPendingSummary,
  WaitOptions,
} from './interfaces/jobs-service.interface.js';
import type { JobStatus } from './interfaces/job-context.interface.js';
import { JobsRunner } from './runner/jobs.runner.js';
import { JobsEvents } from './events/jobs.events.js';
import { kindName, type JobKindRef } from './decorators/job-kind.decorator.js';
import { JobStore } from './storage/job.store.js';
import { JobQueries } from './storage/job.queries.js';
import { KindQueries } from './storage/kind.queries.js';
import type {
  JobSchedule,
  ListSchedulesFilter,
  ScheduleOptions,
} from './interfaces/schedule-options.interface.js';
import { ScheduleStore, scheduleOfRow } from './schedules/schedule.store.js';
import {
  checkRuntimeSchedule,
  checkScheduleFilter,
  refuseScheduleCancel,
  runtimeScheduleRow,
} from './schedules/runtime-schedule.js';
import type { NewJobRow } from './storage/job-rows.js';
import { WaitingReasons } from './limits/waiting-reasons.js';
import type { KindLimits } from './limits/kind-limits.js';
import { Wakeups, type AddedJob } from './wakeups/wakeups.js';
import { JobWaiters } from './waiting/job-waiters.js';
import { enqueueRow, entityOf } from './jobs.rows.js';
import { QueueStates } from './queues/queue-states.js';
import { JobFlows } from './flows/job-flows.js';
import { FlowSettler } from './flows/flow-settler.js';
import { JobsTelemetry, type PublishedAttributes } from './telemetry/jobs.telemetry.js';

/** Enqueue, inspect, cancel and retry jobs; run pending jobs on demand. */
@Injectable()
export class JobsService {
  private readonly scheduleRows: ScheduleStore;
  private readonly queueStates: QueueStates;
  /** Why pending, due jobs wait (JobEntity.waiting), on every read. */
  private readonly waiting: WaitingReasons;
  /** Dependencies, flows and batches (lib/flows/). */
  private readonly flows: JobFlows;
  private readonly settler: FlowSettler;

  constructor(
    @Inject(JOBS_RESOLVED_OPTIONS) private readonly options: ResolvedJobsOptions,
    private readonly registry: JobsRegistry,
    private readonly store: JobStore,
    private readonly jobQueries: JobQueries,
    private readonly kindQueries: KindQueries,
    private readonly runner: JobsRunner,
    private readonly events: JobsEvents,
    private readonly wakeups: Wakeups,
    private readonly waiters: JobWaiters,
    @Inject(JOBS_DATA_SOURCE) dataSource: DataSource,
    private readonly telemetry: JobsTelemetry,
  ) {
    this.scheduleRows = new ScheduleStore(dataSource, store);
    this.queueStates = new QueueStates(store, jobQueries);
    this.waiting = new WaitingReasons(store, kindQueries);
    this.flows = new JobFlows(store, {
      rowsOf: (specs, manager) => this.rowsOf(specs, manager),
      read: (ids, manager) => this.jobQueries.getMany(ids, manager),
      announce: (jobs, manager) =>
        this.announce(
          jobs.map((job) => ({ job, inserted: true })),
          manager,
        ),
    });
    // Settles cancels (this instance's runner settles the ends of the jobs it runs).
    this.settler = new FlowSettler(store, wakeups, (message) => this.runner.logger.warn(message));
  }

  /**
   * Adds a job. With `unique`, returns the active job that holds the same key instead of adding one.
   * Throws UnknownJobKindError or InvalidJobPayloadError, having written nothing.
   */
  enqueue<T>(kind: JobKindRef<T>, data: T, options?: EnqueueOptions): Promise<JobEntity<T>>;
  enqueue<T = unknown>(kind: string, data?: T, options?: EnqueueOptions): Promise<JobEntity<T>>;
  async enqueue<T>(
    kind: string | JobKindRef<T>,
    data?: T,
    options: EnqueueOptions = {},
  ): Promise<JobEntity<T>> {
    checkEnqueueOptionKeys(options);
    return this.telemetry.publishing(
      () => kindName(kind),
      () => this.enqueueOne(kind, data, options),
      (job) => ({
        'messaging.message.id': String(job.id),
        'messaging.destination.name': job.queue,
        'jobs.kind': job.kind,
      }),
    );
  }

  private async enqueueOne<T>(
    kind: string | JobKindRef<T>,
    data: T | undefined,
    options: EnqueueOptions,
  ): Promise<JobEntity<T>> {
    if (options.dependsOn !== undefined) {
      const [job] = await this.flows.enqueueDependents(
        [{ ...options, kind, data }],
        options.manager,
      );
      return job as JobEntity<T>;
    }
    const row = await this.newRow({ ...options, kind, data }, options.manager);
    if (row.uniqueKey !== null) {
      const added = await this.insertUnique(row, options.manager);
      this.announce([added], options.manager);
      return added.job as JobEntity<T>;
    }
    // Its INSERT carries the other instances' wake-up when one is due now (PostgreSQL).
    const notify = this.wakeups.carry([addedOf(row)], options.manager);
    const [id] = await this.store.insertMany([row], options.manager, notify);
    const job = entityOf(id, row);
    this.announce([{ job, inserted: true }], options.manager, notify !== null);
    return job as JobEntity<T>;
  }

  /** Adds many jobs, in as few statements as it can; unique ones one by one. Returns them in order. */
  async enqueueMany(
    specs: AnyEnqueueSpec[],
    options: { manager?: EntityManager } = {},
  ): Promise<JobEntity[]> {
    checkEnqueueSpecs(specs);
    return this.telemetry.publishing(
      () => oneKindOf(specs.map((spec) => kindName(spec.kind))),
      () => this.enqueueAll(specs, options),
      published,
    );
  }

  private async enqueueAll(
    specs: AnyEnqueueSpec[],
    options: { manager?: EntityManager },
  ): Promise<JobEntity[]> {
    if (JobFlows.anyDependencies(specs)) {
      return this.flows.enqueueDependents(
        specs,
        options.manager,
        (i) => `enqueueMany() spec [${i}] `,
      );
    }
    const rows = await this.rowsOf(specs, options.manager);
    const added = new Array<{ job: JobEntity; inserted: boolean }>(rows.length);
    const plain = rows.map((row, i) => ({ row, i })).filter(({ row }) => row.uniqueKey === null);
    // With no unique job (each has a statement of its own), the last INSERT carries the wake-up.
    const notify =
      plain.length === rows.length ? this.wakeups.carry(rows.map(addedOf), options.manager) : null;
    const ids = await this.store.insertMany(
      plain.map(({ row }) => row),
      options.manager,
      notify,
    );
    plain.forEach(({ row, i }, n) => (added[i] = { job: entityOf(ids[n], row), inserted: true }));
    for (const [i, row] of rows.entries()) {
      if (row.uniqueKey !== null) added[i] = await this.insertUnique(row, options.manager);
    }
    this.announce(added, options.manager, notify !== null);
    return added.map(({ job }) => job);
  }

  /**
   * A tree of jobs at once, in one transaction (`manager`'s if given): each job runs after its
   * `children` have ended (see `onDependencyFailure`); `job.dependencies()` reads how they ended.
   */
  enqueueFlow<T>(
    spec: FlowSpec<T>,
    options: { manager?: EntityManager } = {},
  ): Promise<JobFlow<T>> {
    return this.telemetry.publishing(
      () => kindName(spec.kind),
      () => this.flows.enqueueFlow(spec, options.manager),
      (flow) => ({
        'messaging.message.id': String(flow.job.id),
        'messaging.destination.name': flow.job.queue,
        'jobs.kind': flow.job.kind,
      }),
    );
  }

  /**
   * Jobs that end together, in one transaction: `onComplete`'s job is enqueued exactly once when
   * the last of them has ended, succeeded or not, with the batch's counts in its data.
   */
  enqueueBatch(specs: AnyEnqueueSpec[], options?: EnqueueBatchOptions): Promise<JobBatchHandle> {
    return this.telemetry.publishing(
      () => oneKindOf(specs.map((spec) => kindName(spec.kind))),
      () => this.flows.enqueueBatch(specs, options),
      (batch) => ({ ...published(batch.jobs), 'jobs.batch': batch.id }),
    );
  }

  /** A batch's jobs per status, and when it finished; null if there is no such batch. */
  batch(id: number): Promise<JobBatch | null> {
    return this.flows.batch(id);
  }

  /** Checked rows of these specs, their kinds registered (in `manager`'s transaction if given). */
  private async rowsOf(specs: AnyEnqueueSpec[], manager?: EntityManager): Promise<NewJobRow[]> {
    const kindIds = new Map<string, number | null>();
    for (const name of new Set(specs.map((spec) => kindName(spec.kind)))) {
      kindIds.set(name, await this.store.kindId(jobKindName('kind', name), manager));
    }
    const rows = specs.map((spec) => this.rowOf(spec, kindIds.get(kindName(spec.kind))!));
    await this.registerDeclaredKinds(rows, manager);
    return rows;
  }

  /** Inserts a unique job, or returns the active job that holds its key. */
  private async insertUnique(
    row: NewJobRow,
    manager?: EntityManager,
  ): Promise<{ job: JobEntity; inserted: boolean }> {
    const found = await this.store.insertUnique(row, manager);
    const existing = found.inserted ? null : await this.jobQueries.get(found.id, manager);
    return { job: existing ?? entityOf(found.id, row), inserted: found.inserted };
  }

  /**
   * Tells listeners about the jobs just added, and wakes the runners that will take them, when
   * they are due (inside a transaction, once it commits: no runner sees the jobs before).
   */
  private announce(
    added: Array<{ job: JobEntity; inserted: boolean }>,
    manager?: EntityManager,
    carried = false,
  ): void {
    const inserted = added.filter((entry) => entry.inserted).map((entry) => entry.job);
    this.telemetry.enqueued(inserted);
    if (this.events.active) {
      for (const job of inserted) this.events.emit('enqueued', job, { data: job.data });
    }
    // A job waiting on dependencies is due when they end (lib/flows/ wakes runners then).
    this.wakeups.added(
      inserted.filter((job) => job.status === 'pending' && job.runAt.getTime() < WAITING_RUN_AT),
      manager,
      carried,
    );
  }

  /** The job, or null if there is none (an id no column can hold included). */
  async get(id: number): Promise<JobEntity | null> {
    const job = lookupId(id) ? await this.jobQueries.get(id) : null;
    if (job) await this.waiting.explain([job]);
    return job;
  }

  async list(filter?: ListJobsFilter): Promise<JobEntity[]> {
    checkListFilter(filter);
    return this.waiting.explain(await this.jobQueries.list(filter));
  }

  /**
   * Cancels a pending or running job. A running one's handler sees its `signal` abort with a
   * JobCancelledError, wherever it runs; whatever it returns later is dropped.
   */
  async cancel(id: number, options: CancelOptions = {}): Promise<boolean> {
    if (!lookupId(id)) throw new JobNotFoundError(id);
    refuseScheduleCancel(await this.jobQueries.get(id));
    const cancelled = await this.store.cancel(id, Date.now());
    if (!cancelled && !(await this.jobQueries.get(id))) throw new JobNotFoundError(id);
    const children = options.children ? await this.flows.cancelChildren(id) : [];
    // Its dependents (cancelled or released, as each asked), its batch: before cancel() returns.
    if (cancelled || children.length > 0) await this.settler.settleNow([id, ...children]);
    if (!cancelled) return false;
    this.wakeups.control('cancelled', [id]);
    if (this.events.active) this.events.emit('cancelled', (await this.jobQueries.get(id))!);
    return true;
  }

  /**
   * Resolves with the job (its `result` set) once it succeeds, wherever it runs; rejects with
   * JobFailedError, JobCancelledError, JobWaitTimeoutError (the job goes on), JobNotFoundError or
   * JobNotWaitableError (a periodic job or schedule never ends). See WaitOptions for the timeout.
   */
  waitFor<T = unknown>(id: number, options?: WaitOptions): Promise<JobEntity<T>> {
    return this.waiters.waitFor(id, options) as Promise<JobEntity<T>>;
  }

  /** `enqueue()`, then `waitFor()` its job (with `unique`, the key's holder); periodic refused first. */
  enqueueAndWait<T>(kind: string | JobKindRef<T>, data: T, options?: EnqueueAndWaitOptions) {
    const enqueue = (checked: EnqueueOptions) => this.enqueue(kind as JobKindRef<T>, data, checked);
    return this.waiters.enqueueAndWait(kindName(kind), options, enqueue);
  }

  /** Makes pending jobs due now (keeping their attempts) and wakes this instance's runner; returns how many. */
  async runNow(ids: number[]): Promise<number> {
    const changed = await this.store.makeDue(ids.filter(lookupId), Date.now());
    if (changed > 0) this.wakeups.wakeAll();
    return changed;
  }

  /** Makes a failed or cancelled job pending again, due now, with its attempts reset. */
  async retry(id: number): Promise<JobEntity> {
    const job = lookupId(id) ? await this.jobQueries.get(id) : null;
    if (!job) throw new JobNotFoundError(id);
    if (!(await this.store.retry(job, Date.now()))) throw new JobNotRetryableError(id, job.status);
    this.wakeups.wakeAll();
    this.events.emit('retried', job);
    return (await this.jobQueries.get(id))!;
  }

  /**
   * Creates or updates (by `key`) a schedule stored in the database: `kind` runs with `data` once per
   * occurrence across every instance, as a declared schedule does. Throws UnknownJobKindError or
   * InvalidJobsOptionError (or InvalidJobPayloadError), having written nothing.
   */
  async schedule<T>(
    key: string,
    kind: string | JobKindRef<T>,
    data: T,
    options: ScheduleOptions,
  ): Promise<JobSchedule<T>> {
    const spec = checkRuntimeSchedule(key, options);
    const { queue, priority, maxAttempts } = options;
    const row = await this.newRow({ kind, data, queue, priority, maxAttempts });
    const stored = await this.scheduleRows.upsertRuntime(
      runtimeScheduleRow(key, row, spec, Date.now()),
    );
    return scheduleOfRow(stored) as JobSchedule<T>;
  }

  /** Removes a schedule made by `schedule(key, ...)`; false if there was none. */
  unschedule(key: string): Promise<boolean> {
    return this.scheduleRows.removeRuntime(key);
  }

  /** Declared and runtime schedules, paused ones included, by row id (keyset: `after`). */
  async schedules(filter?: ListSchedulesFilter): Promise<JobSchedule[]> {
    return this.scheduleRows.list(checkScheduleFilter(filter));
  }

  /**
   * Pauses a schedule on every instance until resumed (stored: restarts keep it paused): the
   * schedule a kind declares, by the kind's name, or a runtime one, by its key. False if it was
   * paused already; ScheduleNotFoundError if there is no such schedule.
   */
  pauseSchedule(kindOrKey: string): Promise<boolean> {
    return this.scheduleRows.pause(kindOrKey);
  }

  /** Resumes a paused schedule from its next occurrence; false if it was not paused. */
  resumeSchedule(kindOrKey: string): Promise<boolean> {
    return this.scheduleRows.resume(kindOrKey, Date.now());
  }

  /**
   * Pauses a queue on every instance (stored: it survives restarts): no instance starts its jobs
   * from its next claim; running ones finish; enqueue still works. False if paused already.
   */
  pauseQueue(name: string): Promise<boolean> {
    return this.queueStates.pause(name);
  }

  /** Resumes a paused queue on every instance; false if it was not paused. */
  async resumeQueue(name: string): Promise<boolean> {
    const resumed = await this.queueStates.resume(name);
    if (resumed) this.wakeups.wakeAll();
    return resumed;
  }

  /** Every queue that holds jobs or was paused, with whether it is paused and its counts per status. */
  queues(): Promise<JobQueueInfo[]> {
    return this.queueStates.list();
  }

  /**
   * Runs every job due now, once, in this process: the seed's cron command and admin action.
   * Returns after `timeout` at the latest (see RunPendingOptions); runs still going then finish in
   * the background and are counted as `unfinished`.
   */
  runPending(options?: RunPendingOptions): Promise<RunPendingSummary> {
    return this.runner.runPending(options);
  }

  /**
   * Deletes jobs in these finished statuses that finished before `before` (epoch ms), in batches;
   * schedule rows are kept. Returns how many. The runner does this by itself per `retention`.
   */
  prune(statuses: JobStatus[], before: number, batchSize = 500): Promise<number> {
    return this.store.pruneFinished(
      statuses.map((status) => ({ status, before })),
      batchSize,
    );
  }

  /** How many jobs there are of each kind in each status. */
  counts(): Promise<Array<{ kind: string; status: JobStatus; count: number }>> {
    return this.kindQueries.countByKindAndStatus();
  }

  /** Kinds known to the database, and whether this instance can run each. */
  async kinds(): Promise<JobKindInfo[]> {
    const since = Date.now() - HANDLER_STALE_MS;
    return (await this.kindQueries.all()).map((row) => ({
      ...row,
      resolves: this.registry.has(row.name),
      handled: row.handledAt !== null && row.handledAt.getTime() >= since,
      limits: row.limits ? (JSON.parse(row.limits) as KindLimits) : null,
    }));
  }

  /**
   * Kinds with pending jobs that no running instance handles (removed from the code, or not
   * deployed yet), with how many jobs wait. Their jobs stay pending until a handler runs again, or
   * until they are cancelled (see README, "Removing a kind").
   */
  async unhandledKinds(): Promise<UnhandledKind[]> {
    const stale = (await this.kinds()).filter((kind) => !kind.handled);
    if (stale.length === 0) return [];
    const pending = await this.kindQueries.pendingByKind(stale.map((kind) => kind.name));
    return stale
      .filter((kind) => (pending.get(kind.name) ?? 0) > 0)
      .map((kind) => ({
        kind: kind.name,
        pending: pending.get(kind.name)!,
        handledAt: kind.handledAt,
      }));
  }

  private async newRow(spec: AnyEnqueueSpec, manager?: EntityManager): Promise<NewJobRow> {
    const row = this.rowOf(
      spec,
      await this.store.kindId(jobKindName('kind', kindName(spec.kind)), manager),
    );
    await this.registerDeclaredKinds([row], manager);
    return row;
  }

  /**
   * Records the kinds of checked rows that no instance registered yet but this code declares (rowOf
   * let them through), so a producer enqueues them on a fresh database; in the caller's transaction
   * if there is one, so a rollback leaves nothing behind.
   */
  private async registerDeclaredKinds(rows: NewJobRow[], manager?: EntityManager): Promise<void> {
    const names = [...new Set(rows.filter((row) => row.kindId === null).map((row) => row.kind))];
    if (names.length === 0) return;
    await this.store.upsertKinds(names, manager);
    for (const row of rows) row.kindId ??= await this.store.kindId(row.kind, manager);
  }

  /**
   * Checks a spec and makes its row (see enqueueRow); writes nothing. A one-off job carries the
   * trace context of its enqueue (a periodic job or a schedule runs for long after: none).
   */
  private rowOf(spec: AnyEnqueueSpec, kindId: number | null): NewJobRow {
    const row = enqueueRow(spec, kindId, this.registry, this.options);
    if (!row.periodic && row.schedule === null) row.traceContext = this.telemetry.traceContext();
    return row;
  }
}

/** A span name's kind: the kind all these jobs share, or `jobs` for several kinds. */
function oneKindOf(kinds: string[]): string {
  return kinds.every((kind) => kind === kinds[0]) && kinds.length > 0 ? kinds[0] : 'jobs';
}

/** What a producer span of several jobs says of them: how many, and their queue if they share one. */
function published(jobs: JobEntity[]): PublishedAttributes {
  const queues = new Set(jobs.map((job) => job.queue));
  return {
    'messaging.batch.message_count': jobs.length,
    ...(queues.size === 1 ? { 'messaging.destination.name': [...queues][0] } : {}),
  };
}

/** What the wake-ups need of a row about to be written (see Wakeups.carry). */
function addedOf(row: NewJobRow): AddedJob {
  return { kind: row.kind, queue: row.queue, runAt: new Date(row.runAt) };
}
