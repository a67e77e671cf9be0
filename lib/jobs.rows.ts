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

/** The job as just written, without reading it back. */
export function entityOf(id: number, row: NewJobRow): JobEntity {
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
    timeout: row.timeout ?? null,
    backoff: row.backoff ?? null,
    group: row.group ?? null,
    hasDependents: row.hasDependents ?? false,
    dependenciesLeft: row.dependenciesLeft ?? null,
    batchId: row.batchId ?? null,
    traceContext: row.traceContext ?? null,
  });
}
