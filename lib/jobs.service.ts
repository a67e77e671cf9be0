import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { JobEntity } from './entities/job.entity.js';
import {
  InvalidJobsOptionError,
  JobNotFoundError,
  JobNotRetryableError,
  UnknownJobKindError,
} from './errors/jobs.errors.js';
import { JOBS_RESOLVED_OPTIONS } from './jobs.constants.js';
import { positiveInteger } from './jobs.module-definition.js';
import { serializePayload, uniqueKeyOf } from './jobs.payload.js';
import { parseEvery } from './schedules/schedule.js';
import { integer, JobsRegistry, queueName } from './jobs.registry.js';
import type { AnyEnqueueSpec, EnqueueOptions } from './interfaces/enqueue-options.interface.js';
import type { ResolvedJobsOptions } from './interfaces/jobs-module-options.interface.js';
import type {
  JobKindInfo,
  ListJobsFilter,
  RunPendingSummary,
} from './interfaces/jobs-service.interface.js';
import type { JobStatus } from './interfaces/job-context.interface.js';
import { JobsRunner } from './runner/jobs.runner.js';
import { JobsEvents } from './events/jobs.events.js';
import { kindName, type JobKindRef } from './decorators/job-kind.decorator.js';
import { JobStore } from './storage/job.store.js';
import type { NewJobRow } from './storage/job-rows.js';

/** Enqueue, inspect, cancel and retry jobs; run pending jobs on demand. */
@Injectable()
export class JobsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private unwatchCommits: () => void = () => undefined;

  constructor(
    @Inject(JOBS_RESOLVED_OPTIONS) private readonly options: ResolvedJobsOptions,
    private readonly registry: JobsRegistry,
    private readonly store: JobStore,
    private readonly runner: JobsRunner,
    private readonly events: JobsEvents,
  ) {}

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
    const row = await this.newRow({ ...options, kind, data }, options.manager);
    const added =
      row.uniqueKey === null
        ? {
            job: entityOf((await this.store.insertMany([row], options.manager))[0], row),
            inserted: true,
          }
        : await this.insertUnique(row, options.manager);
    this.announce([added], options.manager);
    return added.job as JobEntity<T>;
  }

  /** Adds many jobs, in as few statements as it can; unique ones one by one. Returns them in order. */
  async enqueueMany(
    specs: AnyEnqueueSpec[],
    options: { manager?: EntityManager } = {},
  ): Promise<JobEntity[]> {
    const kindIds = new Map<string, number | null>();
    for (const name of new Set(specs.map((spec) => kindName(spec.kind)))) {
      kindIds.set(name, await this.store.kindId(name, options.manager));
    }
    const rows = specs.map((spec) => this.rowOf(spec, kindIds.get(kindName(spec.kind))!));
    const added = new Array<{ job: JobEntity; inserted: boolean }>(rows.length);
    const plain = rows.map((row, i) => ({ row, i })).filter(({ row }) => row.uniqueKey === null);
    const ids = await this.store.insertMany(
      plain.map(({ row }) => row),
      options.manager,
    );
    plain.forEach(({ row, i }, n) => (added[i] = { job: entityOf(ids[n], row), inserted: true }));
    for (const [i, row] of rows.entries()) {
      if (row.uniqueKey !== null) added[i] = await this.insertUnique(row, options.manager);
    }
    this.announce(added, options.manager);
    return added.map(({ job }) => job);
  }

  /** Inserts a unique job, or returns the active job that holds its key. */
  private async insertUnique(
    row: NewJobRow,
    manager?: EntityManager,
  ): Promise<{ job: JobEntity; inserted: boolean }> {
    const found = await this.store.insertUnique(row, manager);
    const existing = found.inserted ? null : await this.store.get(found.id, manager);
    return { job: existing ?? entityOf(found.id, row), inserted: found.inserted };
  }

  /**
   * Tells listeners about the jobs just added, and wakes the runners when one is due now (inside a
   * transaction, once it commits: the job is not visible to any runner before).
   */
  private announce(
    added: Array<{ job: JobEntity; inserted: boolean }>,
    manager?: EntityManager,
  ): void {
    const inserted = added.filter((entry) => entry.inserted).map((entry) => entry.job);
    for (const job of inserted) this.events.emit('enqueued', job);
    const now = Date.now();
    const due = inserted.filter((job) => job.runAt.getTime() <= now);
    if (due.length === 0) return;
    if (manager?.queryRunner?.isTransactionActive) this.store.markForCommit(manager);
    // A runner here with room for them takes them within a round trip: waking the others would only
    // send them after the same jobs (and NOTIFY costs every committing transaction a global lock).
    else if (due.every((job) => this.runner.canTakeNow(job.kind, job.queue))) this.runner.wake();
    else this.wakeAll();
  }

  /** Wakes this instance's runner, and other instances' where they listen (PostgreSQL NOTIFY). */
  private wakeAll(): void {
    this.runner.wake();
    if (this.options.notify) this.store.wakeOthers(this.runner.owner);
  }

  /** Jobs enqueued in a transaction wake the runners when it commits (see announce). */
  onApplicationBootstrap(): void {
    this.unwatchCommits = this.store.watchCommits(() => this.wakeAll());
  }

  beforeApplicationShutdown(): void {
    this.unwatchCommits();
  }

  get(id: number): Promise<JobEntity | null> {
    return this.store.get(id);
  }

  list(filter?: ListJobsFilter): Promise<JobEntity[]> {
    return this.store.list(filter);
  }

  /** Cancels a pending or running job (a running handler finishes, but its outcome is discarded). */
  async cancel(id: number): Promise<boolean> {
    const cancelled = await this.store.cancel(id, Date.now());
    if (!cancelled && !(await this.store.get(id))) throw new JobNotFoundError(id);
    if (cancelled) this.events.emit('cancelled', (await this.store.get(id))!);
    return cancelled;
  }

  /** Makes pending jobs due now (keeping their attempts) and wakes this instance's runner; returns how many. */
  async runNow(ids: number[]): Promise<number> {
    const changed = await this.store.makeDue(ids, Date.now());
    if (changed > 0) this.wakeAll();
    return changed;
  }

  /** Makes a failed or cancelled job pending again, due now, with its attempts reset. */
  async retry(id: number): Promise<JobEntity> {
    const job = await this.store.get(id);
    if (!job) throw new JobNotFoundError(id);
    if (!(await this.store.retry(job, Date.now()))) throw new JobNotRetryableError(id, job.status);
    this.wakeAll();
    this.events.emit('retried', job);
    return (await this.store.get(id))!;
  }

  /** Runs every job due now, once, in this process: the seed's cron command and admin action. */
  runPending(): Promise<RunPendingSummary> {
    return this.runner.runPending();
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
    return this.store.countByKindAndStatus();
  }

  /** Kinds known to the database, and whether this instance can run each. */
  async kinds(): Promise<JobKindInfo[]> {
    return (await this.store.kinds()).map((row) => ({
      ...row,
      resolves: this.registry.has(row.name),
    }));
  }

  private async newRow(spec: AnyEnqueueSpec, manager?: EntityManager): Promise<NewJobRow> {
    return this.rowOf(spec, await this.store.kindId(kindName(spec.kind), manager));
  }

  /** Checks a spec and makes its row; throws on an unknown kind or a bad option, having written nothing. */
  private rowOf(spec: AnyEnqueueSpec, kindId: number | null): NewJobRow {
    const kind = kindName(spec.kind);
    const local = this.registry.get(kind);
    if (!local && kindId === null) throw new UnknownJobKindError(kind);
    const data = serializePayload(kind, spec.data);
    const now = Date.now();
    const periodic = spec.periodic ?? false;
    if (periodic && spec.interval === undefined && spec.every === undefined) {
      throw new InvalidJobsOptionError(
        'interval',
        undefined,
        'milliseconds between runs (or every), required with periodic',
      );
    }
    const interval = !periodic
      ? null
      : spec.every !== undefined
        ? parseEvery('every', spec.every)
        : positiveInteger('interval', spec.interval, 0);
    const delay = spec.delay === undefined ? 0 : positiveInteger('delay', spec.delay, 0, 0);
    if (
      spec.runAt !== undefined &&
      !(spec.runAt instanceof Date && Number.isFinite(spec.runAt.getTime()))
    ) {
      throw new InvalidJobsOptionError('runAt', spec.runAt, 'a valid Date');
    }
    const unique = spec.unique;
    if (
      unique !== undefined &&
      typeof unique !== 'boolean' &&
      (typeof unique !== 'string' || unique === '')
    ) {
      throw new InvalidJobsOptionError('unique', unique, 'true, false or a non-empty key');
    }
    return {
      kind,
      kindId,
      queue:
        spec.queue === undefined ? (local?.queue ?? 'default') : queueName('queue', spec.queue),
      data,
      periodic,
      interval,
      priority: integer('priority', spec.priority, local?.priority ?? 0),
      runAt: spec.runAt ? spec.runAt.getTime() : now + delay,
      maxAttempts: positiveInteger(
        'maxAttempts',
        spec.maxAttempts,
        local?.maxAttempts ?? this.options.maxAttempts,
      ),
      created: now,
      uniqueKey: unique ? uniqueKeyOf(kind, unique, data) : null,
      schedule: null,
    };
  }
}

/** The job as just written, without reading it back. */
function entityOf(id: number, row: NewJobRow): JobEntity {
  return Object.assign(new JobEntity(), {
    id,
    kind: row.kind,
    kindId: row.kindId,
    queue: row.queue,
    data: JSON.parse(row.data),
    status: 'pending',
    active: true,
    periodic: row.periodic,
    interval: row.interval,
    failed: false,
    priority: row.priority,
    runAt: new Date(row.runAt),
    attempts: 0,
    maxAttempts: row.maxAttempts,
    created: new Date(row.created),
    lastRun: null,
    finishedAt: null,
    lockedBy: null,
    lockedUntil: null,
    lastError: null,
    logs: null,
    result: null,
    uniqueKey: row.uniqueKey,
    activeKey: row.uniqueKey,
  });
}
