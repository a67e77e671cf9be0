import { Inject, Injectable } from '@nestjs/common';
import { DuplicateJobKindError, InvalidJobsOptionError } from './errors/jobs.errors.js';
import { JOBS_RESOLVED_OPTIONS } from './jobs.constants.js';
import { backoffOption, positiveInteger } from './jobs.module-definition.js';
import type { JobContext } from './interfaces/job-context.interface.js';
import { scheduleOf, type ScheduleSpec } from './schedules/schedule.js';
import type { JobKindOptions } from './interfaces/job-kind-options.interface.js';
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
}

/** Kind name -> handler and options: what may run in this process, and nothing else. */
@Injectable()
export class JobsRegistry {
  private readonly kinds = new Map<string, RegisteredKind>();

  constructor(@Inject(JOBS_RESOLVED_OPTIONS) private readonly options: ResolvedJobsOptions) {}

  register(name: string, options: JobKindOptions, handler: JobHandler, source: string): void {
    const existing = this.kinds.get(name);
    if (existing) throw new DuplicateJobKindError(name, existing.source, source);
    if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
      throw new InvalidJobsOptionError(
        `@JobKind() name on ${source}`,
        name,
        'a string of 1 to 200 characters',
      );
    }
    const at = (option: string) => `${option} of job kind "${name}"`;
    const timeout =
      options.timeout === undefined ? null : positiveInteger(at('timeout'), options.timeout, 0);
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
    });
  }

  get(name: string): RegisteredKind | undefined {
    return this.kinds.get(name);
  }

  has(name: string): boolean {
    return this.kinds.has(name);
  }

  names(): string[] {
    return [...this.kinds.keys()];
  }

  all(): RegisteredKind[] {
    return [...this.kinds.values()];
  }
}

export function queueName(option: string, value: unknown): string {
  if (value === undefined) return 'default';
  if (typeof value !== 'string' || value.length === 0 || value.length > 100) {
    throw new InvalidJobsOptionError(option, value, 'a queue name of 1 to 100 characters');
  }
  return value;
}

export function integer(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new InvalidJobsOptionError(option, value, 'an integer');
  }
  return value;
}
