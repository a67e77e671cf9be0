import { messages } from '../jobs.messages.js';

/** Base class of every error this module throws. */
export class JobsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** `enqueue()` named a kind that no instance has registered. Nothing was written. */
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
    reason: string,
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
