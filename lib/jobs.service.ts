import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { JobEntity } from './entities/job.entity.js';
import { InvalidJobsOptionError, JobNotFoundError, JobNotRetryableError, UnknownJobKindError } from './errors/jobs.errors.js';
import { JOBS_RESOLVED_OPTIONS } from './jobs.constants.js';
import { positiveInteger } from './jobs.module-definition.js';
import { serializePayload, uniqueKeyOf } from './jobs.payload.js';
import { parseEvery } from './schedules/schedule.js';
import { integer, JobsRegistry, queueName } from './jobs.registry.js';
import type { AnyEnqueueSpec, EnqueueOptions } from './interfaces/enqueue-options.interface.js';
import type { ResolvedJobsOptions } from './interfaces/jobs-module-options.interface.js';
import type { JobKindInfo, ListJobsFilter, RunPendingSummary } from './interfaces/jobs-service.interface.js';
import type { JobStatus } from './interfaces/job-context.interface.js';
import { JobsRunner } from './runner/jobs.runner.js';
import { JobsEvents } from './events/jobs.events.js';
import { kindName, type JobKindRef } from './decorators/job-kind.decorator.js';
import { JobStore } from './storage/job.store.js';
import type { NewJobRow } from './storage/job-rows.js';

/** Enqueue, inspect, cancel and retry jobs; run pending jobs on demand. */
@Injectable()
export class JobsService {
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
  async enqueue<T>(kind: string | JobKindRef<T>, data?: T, options: EnqueueOptions = {}): Promise<JobEntity<T>> {
    const row = await this.newRow({ ...options, kind, data }, options.manager);
    const wake = this.wakePayload([row]);
    const added =
      row.uniqueKey === null
        ? { job: entityOf((await this.store.insertMany([row], options.manager, wake))[0], row), inserted: true }
        : await this.insertUnique(row, options.manager, wake);
    this.announce([added], options.manager);
    return added.job as JobEntity<T>;
  }

  /** Adds many jobs, in as few statements as it can; unique ones one by one. Returns them in order. */
  async enqueueMany(specs: AnyEnqueueSpec[], options: { manager?: EntityManager } = {}): Promise<JobEntity[]> {
    const rows: NewJobRow[] = [];
    for (const spec of specs) rows.push(await this.newRow(spec, options.manager));
    const added = new Array<{ job: JobEntity; inserted: boolean }>(rows.length);
    const plain = rows.map((row, i) => ({ row, i })).filter(({ row }) => row.uniqueKey === null);
    const ids = await this.store.insertMany(
      plain.map(({ row }) => row),
      options.manager,
      this.wakePayload(plain.map(({ row }) => row)),
    );
    plain.forEach(({ row, i }, n) => (added[i] = { job: entityOf(ids[n], row), inserted: true }));
    for (const [i, row] of rows.entries()) {
      if (row.uniqueKey !== null) added[i] = await this.insertUnique(row, options.manager, this.wakePayload([row]));
    }
    this.announce(added, options.manager);
    return added.map(({ job }) => job);
  }

  /**
   * What to send runners listening elsewhere (PostgreSQL NOTIFY) with these rows: this instance's
   * name, which its own runner ignores (it is woken directly), or null when none is due now.
   */
  private wakePayload(rows: NewJobRow[]): string | null {
    if (!this.options.notify) return null;
    const now = Date.now();
    return rows.some((row) => row.runAt <= now) ? this.runner.owner : null;
  }

  /** Inserts a unique job, or returns the active job that holds its key. */
  private async insertUnique(
    row: NewJobRow,
    manager?: EntityManager,
    wake: string | null = null,
  ): Promise<{ job: JobEntity; inserted: boolean }> {
    const found = await this.store.insertUnique(row, manager, wake);
    const existing = found.inserted ? null : await this.store.get(found.id, manager);
    return { job: existing ?? entityOf(found.id, row), inserted: found.inserted };
  }

  /**
   * Tells listeners about the jobs just added, and wakes this instance's runner when one is due now
   * (inside a transaction, once it commits: the job is not visible to the runner before).
   */
  private announce(added: Array<{ job: JobEntity; inserted: boolean }>, manager?: EntityManager): void {
    const inserted = added.filter((entry) => entry.inserted).map((entry) => entry.job);
    for (const job of inserted) this.events.emit('enqueued', job);
    if (!inserted.some((job) => job.runAt.getTime() <= Date.now())) return;
    if (manager?.queryRunner?.isTransactionActive) this.store.markForCommit(manager);
    else this.runner.wake();
  }

  /** Wakes this instance's runner, and the others' where they listen (PostgreSQL). */
  private async wakeAll(): Promise<void> {
    this.runner.wake();
    if (this.options.notify) await this.store.wakeOthers(this.runner.owner);
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
    if (changed > 0) await this.wakeAll();
    return changed;
  }

  /** Makes a failed or cancelled job pending again, due now, with its attempts reset. */
  async retry(id: number): Promise<JobEntity> {
    const job = await this.store.get(id);
    if (!job) throw new JobNotFoundError(id);
    if (!(await this.store.retry(job, Date.now()))) throw new JobNotRetryableError(id, job.status);
    await this.wakeAll();
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
    return this.store.pruneFinished(statuses.map((status) => ({ status, before })), batchSize);
  }

  /** How many jobs there are of each kind in each status. */
  counts(): Promise<Array<{ kind: string; status: JobStatus; count: number }>> {
    return this.store.countByKindAndStatus();
  }

  /** Kinds known to the database, and whether this instance can run each. */
  async kinds(): Promise<JobKindInfo[]> {
    return (await this.store.kinds()).map((row) => ({ ...row, resolves: this.registry.has(row.name) }));
  }

  private async newRow(spec: AnyEnqueueSpec, manager?: EntityManager): Promise<NewJobRow> {
    const kind = kindName(spec.kind);
    const local = this.registry.get(kind);
    const kindId = await this.store.kindId(kind, manager);
    if (!local && kindId === null) throw new UnknownJobKindError(kind);
    const data = serializePayload(kind, spec.data);
    const now = Date.now();
    const periodic = spec.periodic ?? false;
    if (periodic && spec.interval === undefined && spec.every === undefined) {
      throw new InvalidJobsOptionError('interval', undefined, 'milliseconds between runs (or every), required with periodic');
    }
    const interval = !periodic
      ? null
      : spec.every !== undefined
        ? parseEvery('every', spec.every)
        : positiveInteger('interval', spec.interval, 0);
    const delay = spec.delay === undefined ? 0 : positiveInteger('delay', spec.delay, 0, 0);
    if (spec.runAt !== undefined && !(spec.runAt instanceof Date && Number.isFinite(spec.runAt.getTime()))) {
      throw new InvalidJobsOptionError('runAt', spec.runAt, 'a valid Date');
    }
    const unique = spec.unique;
    if (unique !== undefined && typeof unique !== 'boolean' && (typeof unique !== 'string' || unique === '')) {
      throw new InvalidJobsOptionError('unique', unique, 'true, false or a non-empty key');
    }
    return {
      kind,
      kindId,
      queue: spec.queue === undefined ? (local?.queue ?? 'default') : queueName('queue', spec.queue),
      data,
      periodic,
      interval,
      priority: integer('priority', spec.priority, local?.priority ?? 0),
      runAt: spec.runAt ? spec.runAt.getTime() : now + delay,
      maxAttempts: positiveInteger('maxAttempts', spec.maxAttempts, local?.maxAttempts ?? this.options.maxAttempts),
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
