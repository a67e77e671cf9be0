import {
  JobSnooze,
  type JobContext,
  type JobDependency,
} from '../interfaces/job-context.interface.js';
import {
  MAX_ERROR_CHARS,
  MAX_LOG_CHARS,
  MAX_LOG_LINE_CHARS,
  MAX_RESULT_CHARS,
} from '../jobs.constants.js';
import { messages } from '../jobs.messages.js';
import { serializePayload } from '../jobs.payload.js';
import { JobTimeoutError, JobTransactionError } from '../errors/jobs.errors.js';
import type { EntityManager } from 'typeorm';
import type { RegisteredKind } from '../jobs.registry.js';
import type { ClaimedJob, JobUpdate } from '../storage/job-rows.js';
import { backoffDelay, storedBackoff } from './backoff.js';
import { describeError, safeString, summarizeError } from './error-text.js';
import { logLine, RunAbort, RunLog } from './run-log.js';

export { logLine, RunAbort };
import {
  nextOccurrence,
  parseSchedule,
  runtimeKeyOf,
  type ScheduleSpec,
} from '../schedules/schedule.js';

/** How a run ended, from the runner's point of view. */
export type RunVerdict = 'succeeded' | 'rescheduled' | 'snoozed' | 'retrying' | 'failed';

export interface RunOutcome {
  verdict: RunVerdict;
  update: JobUpdate;
  error?: unknown;
  /** Written already, in the handler's transaction (`job.transaction()`): nothing left to write. */
  committed?: boolean;
  /** Someone waits for this job (PostgreSQL says so when the outcome is written). */
  awaited?: boolean;
  /** Its end must be settled: it has dependents, had dependencies or is in a batch (lib/flows/). */
  linked?: boolean;
}

/** Runs `work` in a transaction that also writes the outcome `end(value)` made; see job-transaction.ts. */
export type Transact = <R>(
  job: ClaimedJob,
  controller: RunAbort,
  work: (manager: EntityManager) => Promise<R>,
  end: (value: R) => RunOutcome,
) => Promise<{ value: R; outcome: RunOutcome }>;

export interface RunSettings {
  owner: string;
  maxBackoff: number;
  now: () => number;
  /** Stores a running job's progress (see ProgressWriter); absent where runs cannot report it. */
  progress?: (job: ClaimedJob, value: unknown) => Promise<void>;
  /** `job.transaction()`; absent where runs cannot use it. */
  transact?: Transact;
  /** `job.dependencies()`. */
  dependencies?: (job: ClaimedJob) => Promise<JobDependency[]>;
}

/**
 * Runs one claimed job to its end and says what to write: the seed's run semantics, made safe.
 * | handler                    | one-off job                       | periodic job                      |
 * | returns (string: logged)   | succeeded, inactive, finished_at  | pending again after its interval  |
 * | returns job.snooze(ms)     | pending again in ms; not an attempt, not a failure                    |
 * | throws, attempts left      | pending again after backoff; failed = true, error logged              |
 * | throws, no attempts left   | failed, inactive until retried by hand                                |
 * | exceeds its timeout        | as "throws", with a JobTimeoutError; the signal is aborted            |
 * | commits job.transaction()  | what that transaction wrote (the end of a run that returned its value) |
 * Cancels, lost leases and shutdown abort a run from outside (RunningJobs.abandon, RunningJobs.stop).
 */
export async function runJob(
  job: ClaimedJob,
  kind: RegisteredKind | undefined,
  controller: RunAbort,
  settings: RunSettings,
): Promise<RunOutcome> {
  const lines = new RunLog();
  const startedAt = settings.now();
  const schedule = scheduleFor(job, kind);
  const context = new RunContext(job, controller, lines, settings, schedule);
  if (schedule?.missed === 'skip' && missedAnother(schedule, job.runAt, settings.now())) {
    const now = settings.now();
    return {
      verdict: 'rescheduled',
      update: {
        id: job.id,
        owner: settings.owner,
        heldAttempt: job.attempts,
        status: 'pending',
        failed: false,
        runAt: nextOccurrence(schedule, now),
        attempts: 0,
        finishedAt: null,
        lastError: null,
        appendLogs: logLine(
          now,
          `missed occurrences skipped (due ${new Date(job.runAt).toISOString()})`,
        ),
        result: null,
        keyed: job.uniqueKey !== null,
      },
    };
  }
  try {
    if (!kind) throw new Error(messages.noHandler(job.kind));
    // The handler starts a microtask later, once the caller has recorded the run (RunningJobs).
    await undefined;
    const value = await withTimeout(
      kind,
      context,
      job.timeout === null ? kind.timeout : job.timeout || null,
      controller,
    );
    // A run whose transaction committed has ended as it wrote, whatever the handler did after.
    const committed = RunContext.committed(context);
    return committed ?? settle(job, schedule, value, lines, settings);
  } catch (error) {
    const committed = RunContext.committed(context);
    return committed ?? fail(job, kind, schedule, error, lines, settings, startedAt);
  } finally {
    RunContext.returned(context);
  }
}

/**
 * The `JobContext` a handler gets. Its functions are made when the handler first reads them, not
 * for every run (a run that uses none allocates none); each is bound, so `const { log } = job` works.
 */
class RunContext implements JobContext {
  readonly id: number;
  readonly kind: string;
  readonly queue: string;
  readonly group: string | null;
  readonly data: unknown;
  readonly attempt: number;
  readonly maxAttempts: number;
  /** The end a `job.transaction()` committed; 'used' while it runs; 'returned' once the handler has. */
  #transaction: RunOutcome | 'unused' | 'used' | 'returned' = 'unused';
  readonly #job: ClaimedJob;
  readonly #controller: RunAbort;
  readonly #lines: RunLog;
  readonly #settings: RunSettings;
  readonly #schedule: ScheduleSpec | null;

  constructor(
    job: ClaimedJob,
    controller: RunAbort,
    lines: RunLog,
    settings: RunSettings,
    schedule: ScheduleSpec | null,
  ) {
    this.id = job.id;
    this.kind = job.kind;
    this.queue = job.queue;
    this.group = job.group;
    this.data = JSON.parse(job.data);
    this.attempt = job.attempts;
    this.maxAttempts = job.maxAttempts;
    this.#job = job;
    this.#controller = controller;
    this.#lines = lines;
    this.#settings = settings;
    this.#schedule = schedule;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get log(): (line: string) => void {
    return (line) => this.#lines.add(this.#settings.now(), safeString(line));
  }

  get snooze(): (delay: number, reason?: string) => JobSnooze {
    return (delay, reason) => new JobSnooze(delay, reason);
  }

  get progress(): (value: unknown) => Promise<void> {
    const report = this.#settings.progress;
    return (value) => (report ? report(this.#job, value) : Promise.resolve());
  }

  get dependencies(): () => Promise<JobDependency[]> {
    const read = this.#settings.dependencies;
    return () => (read ? read(this.#job) : Promise.resolve([]));
  }

  get transaction(): <R>(work: (manager: EntityManager) => Promise<R>) => Promise<R> {
    return (work) => this.#transact(work);
  }

  async #transact<R>(work: (manager: EntityManager) => Promise<R>): Promise<R> {
    const job = this.#job;
    if (this.#transaction === 'returned') {
      throw new JobTransactionError(job.id, 'was called after the handler returned');
    }
    if (this.#transaction !== 'unused') throw new JobTransactionError(job.id, 'was called twice');
    const transact = this.#settings.transact;
    if (!transact) throw new JobTransactionError(job.id, 'is not available here');
    this.#transaction = 'used';
    const done = await transact(job, this.#controller, work, (value) =>
      settle(job, this.#schedule, value, this.#lines, this.#settings),
    );
    this.#transaction = done.outcome;
    return done.value;
  }

  /** The end the run's transaction committed (marked so), or null. Static: not on the handler's object. */
  static committed(context: RunContext): RunOutcome | null {
    const transaction = context.#transaction;
    return typeof transaction === 'object' ? { ...transaction, committed: true } : null;
  }

  /** The handler has returned: a later `transaction()` is refused. */
  static returned(context: RunContext): void {
    context.#transaction = 'returned';
  }
}

/** A declared schedule's row follows the schedule its kind declares in this code (which may be newer than the row's). */
function scheduleFor(job: ClaimedJob, kind: RegisteredKind | undefined): ScheduleSpec | null {
  if (job.schedule === null) return null;
  // A runtime schedule (JobsService.schedule) has its own spec; the kind's is another schedule's.
  if (runtimeKeyOf(job.uniqueKey) !== null) return parseSchedule(job.schedule);
  return kind?.schedule ?? parseSchedule(job.schedule);
}

/** True when the occurrence after the one due has passed too: no instance ran while it was due. */
function missedAnother(schedule: ScheduleSpec, due: number, now: number): boolean {
  return nextOccurrence(schedule, due) + MISSED_GRACE_MS < now;
}

/** A runner that is merely late by a poll or two has not missed an occurrence. */
const MISSED_GRACE_MS = 1_000;

/** When a periodic job runs next: its schedule's next occurrence, or `interval` from now. */
function nextRun(job: ClaimedJob, schedule: ScheduleSpec | null, now: number): number {
  return schedule ? nextOccurrence(schedule, now) : now + Math.max(1, job.interval ?? 0);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

/**
 * Calls the handler with its timer already running (so its synchronous part counts), and gives
 * what it returns, or a JobTimeoutError (the signal aborted) once `timeout` ms have passed. One
 * promise and one timer a run, and the promise only for a handler that returned one: a race
 * against a deadline promise, with a `finally`, made three promises more (every run has a timeout
 * by default). A timer cannot fire before the promise below exists: this function is synchronous.
 */
function withTimeout(
  kind: RegisteredKind,
  context: JobContext,
  timeout: number | null,
  controller: RunAbort,
): unknown {
  if (timeout === null) return kind.handler(context);
  let expire: ((error: JobTimeoutError) => void) | null = null;
  const timer = setTimeout(() => {
    const error = new JobTimeoutError(timeout);
    controller.abort(error);
    expire?.(error);
  }, timeout);
  let started: unknown;
  try {
    started = kind.handler(context);
  } catch (error) {
    clearTimeout(timer);
    throw error;
  }
  if (!isThenable(started)) {
    clearTimeout(timer);
    return started;
  }
  return new Promise<unknown>((resolve, reject) => {
    expire = reject;
    started.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function settle(
  job: ClaimedJob,
  schedule: ScheduleSpec | null,
  value: unknown,
  lines: RunLog,
  settings: RunSettings,
): RunOutcome {
  const now = settings.now();
  if (value instanceof JobSnooze) {
    const delay = Math.max(1, Math.round(value.delay));
    const reason = value.reason ? `: ${safeString(value.reason)}` : '';
    lines.add(now, `snoozed for ${delay} ms${reason}`);
    return {
      verdict: 'snoozed',
      update: succeeded(job, settings, 'pending', now + delay, job.attempts - 1, null, lines, null),
    };
  }
  if (typeof value === 'string') lines.add(now, value);
  const result = resultJson(value, lines, now);
  if (job.periodic) {
    const runAt = nextRun(job, schedule, now);
    return {
      verdict: 'rescheduled',
      update: succeeded(job, settings, 'pending', runAt, 0, null, lines, result),
    };
  }
  return {
    verdict: 'succeeded',
    update: succeeded(job, settings, 'succeeded', job.runAt, job.attempts, now, lines, result),
  };
}

/**
 * The update of a run that did not fail. Written out field by field: a spread of a shared base
 * that then overrides one of its fields costs microseconds per job in V8, which a fast runner feels.
 */
function succeeded(
  job: ClaimedJob,
  settings: RunSettings,
  status: JobUpdate['status'],
  runAt: number,
  attempts: number,
  finishedAt: number | null,
  lines: RunLog,
  result: string | null,
): JobUpdate {
  return {
    id: job.id,
    owner: settings.owner,
    heldAttempt: job.attempts,
    status,
    failed: false,
    runAt,
    attempts,
    finishedAt,
    lastError: null,
    appendLogs: lines.text(),
    result,
    keyed: job.uniqueKey !== null,
  };
}

function resultJson(value: unknown, lines: RunLog, now: number): string | null {
  if (value === undefined) return null;
  try {
    const json = serializePayload('result', value);
    if (json.length <= MAX_RESULT_CHARS) return json;
    lines.add(now, messages.resultTooLarge(json.length, MAX_RESULT_CHARS));
  } catch (error) {
    lines.add(now, messages.resultNotJson(summarizeError(error)));
  }
  return null;
}

/**
 * How a failed attempt's log line names it: `attempt 2 of 5 (started <ISO time> on <instance>)`,
 * the instance being the runner's owner (`host:pid:random`). The dashboard's timeline reads it
 * (lib/dashboard); only failures write it, so a run that succeeds logs nothing more.
 */
function attemptLabel(job: ClaimedJob, startedAt: number, owner: string): string {
  const started = new Date(startedAt).toISOString();
  return `attempt ${job.attempts} of ${job.maxAttempts} (started ${started} on ${owner})`;
}

function fail(
  job: ClaimedJob,
  kind: RegisteredKind | undefined,
  schedule: ScheduleSpec | null,
  error: unknown,
  lines: RunLog,
  settings: RunSettings,
  startedAt: number,
): RunOutcome {
  const now = settings.now();
  const attempt = attemptLabel(job, startedAt, settings.owner);
  if (schedule && kind && job.attempts >= job.maxAttempts) {
    return failedOccurrence(job, schedule, error, lines, settings, now, attempt);
  }
  const text = describeError(error, MAX_ERROR_CHARS);
  const summary = summarizeError(error);
  const retrying = kind !== undefined && job.attempts < job.maxAttempts;
  const backoff = job.backoff === null ? kind?.backoff : storedBackoff(job.backoff);
  const delay = retrying ? backoffDelay(backoff!, job.attempts, settings.maxBackoff) : 0;
  const next = retrying ? `; retry in ${delay} ms` : '; no attempts left';
  lines.add(now, `${attempt} failed: ${summary}${next}`);
  return {
    verdict: retrying ? 'retrying' : 'failed',
    error,
    update: {
      id: job.id,
      owner: settings.owner,
      heldAttempt: job.attempts,
      status: retrying ? 'pending' : 'failed',
      failed: true,
      runAt: now + Math.max(1, delay),
      attempts: job.attempts,
      finishedAt: retrying ? null : now,
      lastError: text,
      appendLogs: lines.text(),
      result: null,
      keyed: job.uniqueKey !== null,
    },
  };
}

/** A declared schedule outlives a failed occurrence: it is logged, and the next occurrence is due as usual. */
function failedOccurrence(
  job: ClaimedJob,
  schedule: ScheduleSpec,
  error: unknown,
  lines: RunLog,
  settings: RunSettings,
  now: number,
  attempt: string,
): RunOutcome {
  const text = describeError(error, MAX_ERROR_CHARS);
  const summary = summarizeError(error);
  const runAt = nextOccurrence(schedule, now);
  const next = new Date(runAt).toISOString();
  lines.add(now, `${attempt} failed: ${summary}; next occurrence ${next}`);
  return {
    verdict: 'failed',
    error,
    update: {
      id: job.id,
      owner: settings.owner,
      heldAttempt: job.attempts,
      status: 'pending',
      failed: true,
      runAt,
      attempts: 0,
      finishedAt: null,
      lastError: text,
      appendLogs: lines.text(),
      result: null,
      keyed: job.uniqueKey !== null,
    },
  };
}
