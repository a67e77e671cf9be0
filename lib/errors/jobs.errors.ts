import type { JobEntity } from '../entities/job.entity.js';
import { messages } from '../jobs.messages.js';

/** Base class of every error this module throws. */
export class JobsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** `enqueue()` named a kind that no instance has registered and this app does not declare. Nothing was written. */
export class UnknownJobKindError extends JobsError {
  constructor(readonly kind: string) {
    super(messages.unknownKind(kind));
  }
}

/** Two `@JobKind()` handlers share one name. Thrown at startup. */
export class DuplicateJobKindError extends JobsError {
  constructor(
    readonly kind: string,
    first: string,
    second: string,
  ) {
    super(messages.duplicateKind(kind, first, second));
  }
}

/** The payload given to `enqueue()` cannot be stored as JSON. Nothing was written. */
export class InvalidJobPayloadError extends JobsError {
  constructor(
    readonly kind: string,
    readonly path: string,
    readonly reason: string,
  ) {
    super(messages.invalidPayload(kind, path, reason));
  }
}

/** A module, kind or enqueue option has a value it cannot take. */
export class InvalidJobsOptionError extends JobsError {
  constructor(
    readonly option: string,
    value: unknown,
    expected: string,
  ) {
    super(messages.invalidOption(option, value, expected));
  }
}

/** An options object has a key the module does not know (`{ dealy: 1000 }`). Nothing was written. */
export class UnknownJobsOptionError extends InvalidJobsOptionError {
  constructor(
    readonly where: string,
    key: string,
    readonly known: string[],
  ) {
    super(key, undefined, `one of: ${known.join(', ')}`);
    this.message = messages.unknownOption(where, key, known);
  }
}

/**
 * The TypeORM data source does not know the module's entities: its `entities` are listed by hand
 * without `...JOBS_ENTITIES`. Thrown at startup, before any query.
 */
export class JobsEntitiesMissingError extends JobsError {
  constructor(readonly entities: string[]) {
    super(messages.entitiesMissing(entities));
  }
}

/**
 * With `schema: 'migrations'`, the module's tables (or a change to them) are not in the database.
 * Thrown at startup, naming the migration to run.
 */
export class JobsSchemaMissingError extends JobsError {
  constructor(readonly migration: string) {
    super(messages.schemaMissing(migration));
  }
}

/** The TypeORM data source is of a type this module cannot drive. */
export class UnsupportedDatabaseError extends JobsError {
  constructor(readonly type: string) {
    super(messages.unsupportedDatabase(type));
  }
}

/** `get`/`cancel`/`retry` named a job id that does not exist. */
export class JobNotFoundError extends JobsError {
  constructor(readonly id: number) {
    super(messages.jobNotFound(id));
  }
}

/** `retry()` on a job that is running or has succeeded. */
export class JobNotRetryableError extends JobsError {
  constructor(
    readonly id: number,
    readonly status: string,
  ) {
    super(messages.notRetryable(id, status));
  }
}

/** The reason given to a handler's AbortSignal when its `timeout` passes. */
export class JobTimeoutError extends JobsError {
  constructor(readonly timeoutMs: number) {
    super(messages.timedOut(timeoutMs));
  }
}

/** `pauseSchedule`/`resumeSchedule` named neither a kind with a declared schedule nor a runtime schedule's key. */
export class ScheduleNotFoundError extends JobsError {
  constructor(readonly key: string) {
    super(messages.scheduleNotFound(key));
  }
}

/**
 * `cancel()` of a schedule's row. Refused, having changed nothing: a cancelled declared schedule
 * would come back at the next start of any instance. Pause it, or turn it off in code.
 */
export class ScheduleNotCancellableError extends JobsError {
  constructor(
    readonly id: number,
    readonly key: string,
    readonly declared: boolean,
  ) {
    super(messages.scheduleNotCancellable(id, key, declared));
  }
}

/**
 * SQLite: a write of the module (an enqueue without `manager`, an outcome, a lease renewal) waited
 * SQLITE_TRANSACTION_WAIT_MS for a transaction of the app to end, and gave up. Nothing was written.
 */
export class SqliteTransactionOpenError extends JobsError {
  constructor(readonly waitedMs: number) {
    super(messages.sqliteTransactionOpen(waitedMs));
  }
}

/**
 * The reason given to a running handler's AbortSignal when its job is cancelled (`cancel()`, the
 * CLI, the dashboard), and the rejection of `waitFor()` for a job that was cancelled.
 */
export class JobCancelledError extends JobsError {
  constructor(
    readonly id: number,
    /** The job as it ended, when read (`waitFor`). */
    readonly job?: JobEntity,
  ) {
    super(messages.jobCancelled(id));
  }
}

/**
 * The reason given to a running handler's AbortSignal when this instance no longer holds its job
 * (its lease ran out and another instance took it, or it was deleted); the run's outcome is
 * dropped. Also what `job.transaction()` throws when the lease is gone at commit: it rolled back.
 */
export class JobLeaseLostError extends JobsError {
  constructor(
    readonly id: number,
    readonly why: string,
  ) {
    super(messages.jobLeaseLost(id, why));
  }
}

/** The reason given to a running handler's AbortSignal when the application's shutdown grace ends. */
export class JobsShutdownError extends JobsError {
  constructor(readonly graceMs: number) {
    super(messages.shuttingDown(graceMs));
  }
}

/** `waitFor()`: the job failed for good (no attempts left). `job.lastError` says why. */
export class JobFailedError extends JobsError {
  constructor(readonly job: JobEntity) {
    super(messages.jobFailed(job.id, job.kind, job.lastError));
  }

  get lastError(): string | null {
    return this.job.lastError;
  }
}

/** `waitFor()` / `enqueueAndWait()`: the job had not ended when the timeout passed. It goes on. */
export class JobWaitTimeoutError extends JobsError {
  constructor(
    readonly id: number,
    readonly timeoutMs: number,
  ) {
    super(messages.waitTimedOut(id, timeoutMs));
  }
}

/** `waitFor()` / `enqueueAndWait()` of a periodic job or a schedule's row: it never ends. */
export class JobNotWaitableError extends JobsError {
  constructor(
    readonly id: number | null,
    readonly kind: string,
  ) {
    super(messages.notWaitable(id, kind));
  }
}

/** `job.progress()` was given a value that cannot be stored as JSON. Nothing was written. */
export class InvalidJobProgressError extends JobsError {
  constructor(
    readonly id: number,
    reason: string,
  ) {
    super(messages.invalidProgress(id, reason));
  }
}

/** `job.transaction()` was misused: called a second time in one run, or after the handler returned. */
export class JobTransactionError extends JobsError {
  constructor(
    readonly id: number,
    reason: string,
  ) {
    super(messages.transactionMisused(id, reason));
  }
}

/**
 * `waitFor()` / `enqueueAndWait()`: the application shut down while the wait went on. The job
 * itself goes on (another instance may run it); read its outcome later with `get(id)`.
 */
export class JobWaitShutdownError extends JobsError {
  constructor(readonly id: number) {
    super(messages.waitShutdown(id));
  }
}

/**
 * `dependsOn` named jobs that do not exist (never did, or were deleted): nothing was enqueued.
 * A job can only depend on jobs enqueued before it, so dependencies never form a cycle.
 */
export class JobDependencyNotFoundError extends JobsError {
  constructor(readonly ids: number[]) {
    super(
      `dependsOn names job${ids.length > 1 ? 's' : ''} ${ids.join(', ')}, which do${ids.length > 1 ? '' : 'es'} not exist; nothing was enqueued (enqueue the dependencies first, or use enqueueFlow for a tree created at once)`,
    );
  }
}
