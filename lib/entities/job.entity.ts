import type { JobWaiting } from '../limits/kind-limits.js';
import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { JOBS_TABLE } from '../jobs.constants.js';
import type { JobStatus } from '../interfaces/job-context.interface.js';
import { bigintNumber, epochMillis } from './column-transformers.js';
import { JobKindEntity } from './job-kind.entity.js';

/**
 * One job: the seed's fields (kind, data, active, periodic, failed, last run, logs) and what safe
 * execution by many instances needs (status, queue, priority, run-at, attempts, lease, errors).
 * `synchronize: false`: the module creates its tables (lib/storage/schema.ts); TypeORM's schema sync
 * misread MariaDB's JSON columns under type 'mysql' and dropped them, payloads and all, every start.
 */
@Entity({ name: JOBS_TABLE, synchronize: false })
// "Find due jobs" walks this index in claim order: status = 'pending', then priority, run_at, id.
// Where the database has partial indexes, pending jobs only (on PostgreSQL as (priority, run_at,
// id, status)), so a claim and a finish write no entry in it (JobsPendingDueIndex1801872000000).
@Index('idx_nest_jobs_due', ['status', 'priority', 'runAt', 'id'], { where: "status = 'pending'" })
@Index('idx_nest_jobs_kind', ['kind', 'status'])
@Index('idx_nest_jobs_finished', ['status', 'finishedAt'])
// A batch's jobs (its counts, whether it has finished: lib/flows/). Partial where the database
// has them, so the jobs of no batch, nearly all, cost it nothing when their status changes.
@Index('idx_nest_jobs_batch', ['batchId'], { where: 'batch_id IS NOT NULL' })
export class JobEntity<T = unknown> {
  // INTEGER: the only type SQLite auto-increments, and TypeORM decorators cannot vary it per
  // database. 2^31 ids; see the README's note on id range.
  @PrimaryGeneratedColumn('increment', { type: 'integer' })
  id!: number;

  /** The kind's name; only a handler registered under this name ever runs the job. */
  @Column({ type: 'varchar', length: 200 })
  kind!: string;

  @ManyToOne(() => JobKindEntity, { nullable: true, createForeignKeyConstraints: false })
  @JoinColumn({ name: 'kind_id' })
  kindRef?: JobKindEntity | null;

  @Column({ name: 'kind_id', type: 'integer', nullable: true })
  kindId!: number | null;

  @Column({ type: 'varchar', length: 100, default: 'default' })
  queue!: string;

  @Column({ type: 'json', nullable: true })
  data!: T;

  @Column({ type: 'varchar', length: 16 })
  status!: JobStatus;

  /** True while pending, running or paused (a paused schedule; the seed's flag). */
  @Column({ type: 'boolean', default: true })
  active!: boolean;

  @Column({ type: 'boolean', default: false })
  periodic!: boolean;

  /** The schedule declared on `@JobKind` (cron or every), as JSON; null for enqueued jobs. */
  @Column({ type: 'varchar', length: 300, nullable: true })
  schedule!: string | null;

  /** Milliseconds between runs of a periodic job. */
  @Column({ name: 'interval_ms', type: 'bigint', nullable: true, transformer: bigintNumber })
  interval!: number | null;

  /** The last run threw (the seed's flag); a failed job may still be retried. */
  @Column({ type: 'boolean', default: false })
  failed!: boolean;

  /** Lower runs first. */
  @Column({ type: 'integer', default: 0 })
  priority!: number;

  @Column({ name: 'run_at', type: 'bigint', transformer: epochMillis })
  runAt!: Date;

  /** Runs started so far (a snoozed or released run is not counted). */
  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'max_attempts', type: 'integer' })
  maxAttempts!: number;

  @Column({ type: 'bigint', transformer: epochMillis })
  created!: Date;

  @Column({ name: 'last_run', type: 'bigint', nullable: true, transformer: epochMillis })
  lastRun!: Date | null;

  @Column({ name: 'finished_at', type: 'bigint', nullable: true, transformer: epochMillis })
  finishedAt!: Date | null;

  /** The instance that holds the job while it runs. */
  @Column({ name: 'locked_by', type: 'varchar', length: 120, nullable: true })
  lockedBy!: string | null;

  /** The lease: another instance may claim the job again after this moment. */
  @Column({ name: 'locked_until', type: 'bigint', nullable: true, transformer: epochMillis })
  lockedUntil!: Date | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  /** Appended lines, each with a timestamp; the newest characters are kept. */
  @Column({ type: 'text', nullable: true })
  logs!: string | null;

  /** What the handler returned, as JSON. */
  @Column({ type: 'json', nullable: true })
  result!: unknown;

  /** Milliseconds a run of this job may take, given at enqueue; null: the kind's timeout. */
  @Column({ name: 'timeout_ms', type: 'integer', nullable: true })
  timeout!: number | null;

  /**
   * The backoff given at enqueue, as JSON text: a number (the base of an exponential backoff, in ms)
   * or `{ "type": "fixed" | "exponential", "delay": ms }`; null: the kind's backoff.
   */
  @Column({ type: 'varchar', length: 100, nullable: true })
  backoff!: string | null;

  /**
   * The last value the handler reported with `job.progress()` (a number, by convention 0-100, or
   * any JSON value); null until it reports. Kept after the run ends.
   */
  @Column({ type: 'json', nullable: true })
  progress!: unknown;

  /** Some instance waits for this job's end (`waitFor`): on PostgreSQL its runner then NOTIFYs. */
  @Column({ type: 'boolean', default: false })
  awaited!: boolean;

  /**
   * The `group` given at enqueue: the key a kind's per-group limits count by (`@JobKind(name,
   * { group: { concurrency, rateLimit } })`); null for none.
   */
  @Column({ name: 'group_key', type: 'varchar', length: 200, nullable: true })
  group!: string | null;

  /**
   * Some job waits or waited on this one (`dependsOn`, a flow's parent): its end settles them, and
   * retention keeps it while a dependent may still read it.
   */
  @Column({ name: 'has_dependents', type: 'boolean', default: false })
  hasDependents!: boolean;

  /**
   * Dependencies not yet ended: while above 0 the job is pending but never due (its `runAt` is far
   * in the future). Null for a job enqueued without dependencies.
   */
  @Column({ name: 'deps_left', type: 'integer', nullable: true })
  dependenciesLeft!: number | null;

  /** The batch it belongs to (`enqueueBatch`), or null. */
  @Column({ name: 'batch_id', type: 'integer', nullable: true })
  batchId!: number | null;

  /**
   * The W3C trace context of the enqueue when an OpenTelemetry SDK traced it (traceparent, then a
   * space and the tracestate if any): each run's span is its child. Null otherwise.
   */
  @Column({ name: 'trace_context', type: 'varchar', length: 512, nullable: true })
  traceContext!: string | null;

  /**
   * Why this pending, due job is not running yet, when something holds it back (a paused queue, a
   * limit); computed when read by `get()` and `list()`, never stored. Null otherwise.
   */
  waiting?: JobWaiting | null;

  /** The dedupe key given at enqueue (kept for reference). */
  @Column({ name: 'unique_key', type: 'varchar', length: 255, nullable: true })
  uniqueKey!: string | null;

  /**
   * The dedupe key while the job is active, NULL once it is not: a unique index on it lets only
   * one active job hold a key, on every backend. Declared as the column's `unique` (a constraint
   * over every row, as SQLite and MariaDB keep it); on PostgreSQL a partial unique index of the
   * keyed rows replaces it (JobsPartialActiveKey1802476800000), which no decorator can declare for
   * one database only (test/migrations.spec.ts names that one difference).
   */
  @Column({ name: 'active_key', type: 'varchar', length: 255, nullable: true, unique: true })
  activeKey!: string | null;
}
