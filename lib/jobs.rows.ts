import { JobEntity } from './entities/job.entity.js';
import { InvalidJobsOptionError, UnknownJobKindError } from './errors/jobs.errors.js';
import { serializePayload, uniqueKeyOf } from './jobs.payload.js';
import type { JobsRegistry } from './jobs.registry.js';
import {
  dueAt,
  duration,
  flag,
  groupKey,
  integer,
  positiveInteger,
  queueName,
} from './options/index.js';
import { jobBackoff, jobTimeout } from './options/run-options.js';
import type { AnyEnqueueSpec } from './interfaces/enqueue-options.interface.js';
import type { ResolvedJobsOptions } from './interfaces/jobs-module-options.interface.js';
import { kindName } from './decorators/job-kind.decorator.js';
import type { NewJobRow } from './storage/job-rows.js';

/**
 * Checks an enqueue spec and makes its row: every check an enqueue makes before any statement (the
 * kind known or declared, the payload, every option). Throws UnknownJobKindError,
 * InvalidJobPayloadError or InvalidJobsOptionError, having written nothing.
 */
export function enqueueRow(
  spec: AnyEnqueueSpec,
  kindId: number | null,
  registry: JobsRegistry,
  options: ResolvedJobsOptions,
): NewJobRow {
  const kind = kindName(spec.kind);
  // Known to the database, or declared by this code (a reference, a handler, the `kinds` option).
  const declared = typeof spec.kind !== 'string' || registry.declares(spec.kind);
  if (kindId === null && !declared) throw new UnknownJobKindError(kind);
  // The handler's options, or, in an app without it, those its reference carries.
  const defaults = registry.defaultsFor(spec.kind);
  const data = serializePayload(kind, spec.data, options.maxPayloadSize);
  const now = Date.now();
  const periodic = flag('periodic', spec.periodic, false);
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
      ? duration('every', spec.every, 0)
      : duration('interval', spec.interval, 0);
  const runAt = dueAt(spec.runAt, spec.delay, now);
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
      spec.queue === undefined ? (defaults.queue ?? 'default') : queueName('queue', spec.queue),
    data,
    periodic,
    interval,
    priority: integer('priority', spec.priority, defaults.priority ?? 0),
    runAt,
    maxAttempts: positiveInteger(
      'maxAttempts',
      spec.maxAttempts,
      defaults.maxAttempts ?? options.maxAttempts,
    ),
    created: now,
    uniqueKey: unique ? uniqueKeyOf(kind, unique, data) : null,
    schedule: null,
    timeout: jobTimeout(spec.timeout),
    backoff: jobBackoff(spec.backoff),
    group: spec.group === undefined ? null : groupKey('group', spec.group),
  };
}

/**
 * The job as just written, without reading it back. Assigned field by field to a new entity: an
 * `Object.assign` of a literal measured 0.8-1.9 µs a job against 0.35 µs (every enqueue pays it).
 */
export function entityOf(id: number, row: NewJobRow): JobEntity {
  const job = new JobEntity();
  job.id = id;
  job.kind = row.kind;
  job.kindId = row.kindId;
  job.queue = row.queue;
  job.data = JSON.parse(row.data);
  job.status = 'pending';
  job.active = true;
  job.periodic = row.periodic;
  job.interval = row.interval;
  job.failed = false;
  job.priority = row.priority;
  job.runAt = new Date(row.runAt);
  job.attempts = 0;
  job.maxAttempts = row.maxAttempts;
  job.created = new Date(row.created);
  job.lastRun = null;
  job.finishedAt = null;
  job.lockedBy = null;
  job.lockedUntil = null;
  job.lastError = null;
  job.logs = null;
  job.result = null;
  job.uniqueKey = row.uniqueKey;
  job.activeKey = row.uniqueKey;
  job.timeout = row.timeout ?? null;
  job.backoff = row.backoff ?? null;
  job.group = row.group ?? null;
  job.hasDependents = row.hasDependents ?? false;
  job.dependenciesLeft = row.dependenciesLeft ?? null;
  job.batchId = row.batchId ?? null;
  job.traceContext = row.traceContext ?? null;
  return job;
}
