import { Inject, Injectable } from '@nestjs/common';
import { DuplicateJobKindError } from './errors/jobs.errors.js';
import { JOBS_RESOLVED_OPTIONS } from './jobs.constants.js';
import {
  backoffOption,
  checkKindOptionKeys,
  integer,
  jobKindName,
  positiveInteger,
  queueName,
  timerDuration,
} from './options/index.js';
import type { JobContext } from './interfaces/job-context.interface.js';
import { scheduleOf, type ScheduleSpec } from './schedules/schedule.js';
import { kindLimitsOf, type KindLimits } from './limits/kind-limits.js';
import { usesPermits } from './limits/kind-permits.js';
import type { JobKindDefaults, JobKindOptions } from './interfaces/job-kind-options.interface.js';
import { kindDefaults, kindName } from './decorators/job-kind.decorator.js';
import type {
  BackoffOption,
  ResolvedJobsOptions,
} from './interfaces/jobs-module-options.interface.js';

export type JobHandler = (context: JobContext<any>) => unknown;

/** A kind with its handler and its options, defaults applied. */
export interface RegisteredKind {
  name: string;
  /** `Class.method`, for messages. */
  source: string;
  handler: JobHandler;
  maxAttempts: number;
  backoff: BackoffOption;
  timeout: number | null;
  queue: string;
  priority: number;
  /** The schedule it declares (`cron` or `every`), or null. */
  schedule: ScheduleSpec | null;
  /** Its cluster-wide concurrency and rate limits, or null (see lib/limits/). */
  limits: KindLimits | null;
}

/**
 * Kind name -> handler and options: what may run in this process, and nothing else. Also the kinds
 * this code declares without handling them (the `kinds` option), which it may enqueue.
 */
@Injectable()
export class JobsRegistry {
  private readonly kinds = new Map<string, RegisteredKind>();
  /** The `kinds` option: name -> the defaults its reference carried (a later reference wins). */
  private readonly declared = new Map<string, JobKindDefaults>();
  /** The kinds by how they are claimed, worked out once (registration ends before any claim). */
  private split: {
    limited: Array<{ name: string; limits: KindLimits }>;
    permitted: Array<{ name: string; limit: number }>;
    unlimited: string[];
  } | null = null;
  /** usualPriorities(), worked out once. */
  private priorities: number[] | null = null;

  constructor(@Inject(JOBS_RESOLVED_OPTIONS) private readonly options: ResolvedJobsOptions) {
    for (const { name, defaults } of options.kinds) {
      if (!this.declared.has(name) || Object.keys(defaults).length > 0) {
        this.declared.set(name, defaults);
      }
    }
  }

  register(name: string, options: JobKindOptions, handler: JobHandler, source: string): void {
    const existing = this.kinds.get(name);
    if (existing) throw new DuplicateJobKindError(name, existing.source, source);
    jobKindName(`@JobKind() name on ${source}`, name);
    checkKindOptionKeys(name, options);
    this.split = null;
    this.priorities = null;
    const at = (option: string) => `${option} of job kind "${name}"`;
    // 0 (here or in the module's default) means no time limit.
    const timeout = timerDuration(at('timeout'), options.timeout, this.options.timeout, 0) || null;
    this.kinds.set(name, {
      name,
      source,
      handler,
      maxAttempts: positiveInteger(
        at('maxAttempts'),
        options.maxAttempts,
        this.options.maxAttempts,
      ),
      backoff: backoffOption(at('backoff'), options.backoff) ?? this.options.backoff,
      timeout,
      queue: queueName(at('queue'), options.queue),
      priority: integer(at('priority'), options.priority, 0),
      schedule: scheduleOf(name, options),
      limits: kindLimitsOf(name, options),
    });
  }

  get(name: string): RegisteredKind | undefined {
    return this.kinds.get(name);
  }

  has(name: string): boolean {
    return this.kinds.has(name);
  }

  /** The kinds this instance runs. */
  names(): string[] {
    return [...this.kinds.keys()];
  }

  /** Whether this code says the kind exists, by a handler or in the `kinds` option. */
  declares(name: string): boolean {
    return this.kinds.has(name) || this.declared.has(name);
  }

  /** Kinds in the `kinds` option that have no handler here (those with one are recorded as handled). */
  declaredWithoutHandler(): string[] {
    return [...this.declared.keys()].filter((name) => !this.kinds.has(name));
  }

  /**
   * Defaults of a job of this kind enqueued here: its handler's options, else those its reference
   * carries (given to enqueue, or listed in `kinds`), else none (the module's).
   */
  defaultsFor(kind: string | { readonly name: string }): JobKindDefaults {
    const name = kindName(kind);
    return this.kinds.get(name) ?? kindDefaults(kind) ?? this.declared.get(name) ?? {};
  }

  /**
   * The kinds this instance runs that declare a rate limit or group limits: claimed by
   * lib/limits/limited-claim.ts.
   */
  limited(): Array<{ name: string; limits: KindLimits }> {
    return this.claimSplit().limited;
  }

  /** The kinds whose only limit is a `concurrency`: claimed with permits (lib/limits/kind-permits.ts). */
  permitted(): Array<{ name: string; limit: number }> {
    return this.claimSplit().permitted;
  }

  /**
   * The priorities most jobs here have: 0 and the kinds' default priorities, those of kinds run
   * here and of kinds declared by reference (the claim reads each by a bounded range, see
   * lib/storage/due-ranges.ts).
   */
  usualPriorities(): number[] {
    if (this.priorities) return this.priorities;
    const priorities = new Set([0]);
    for (const kind of this.kinds.values()) priorities.add(kind.priority);
    for (const defaults of this.declared.values()) {
      if (defaults.priority !== undefined) priorities.add(defaults.priority);
    }
    return (this.priorities = [...priorities].sort((a, b) => a - b));
  }

  /** The kinds this instance runs that declare no limits: the plain claim's. */
  unlimitedNames(): string[] {
    return this.claimSplit().unlimited;
  }

  private claimSplit(): NonNullable<JobsRegistry['split']> {
    if (this.split) return this.split;
    const split: NonNullable<JobsRegistry['split']> = { limited: [], permitted: [], unlimited: [] };
    for (const { name, limits } of this.all()) {
      if (!limits) split.unlimited.push(name);
      else if (usesPermits(limits)) split.permitted.push({ name, limit: limits.concurrency! });
      else split.limited.push({ name, limits });
    }
    return (this.split = split);
  }

  all(): RegisteredKind[] {
    return [...this.kinds.values()];
  }
}
