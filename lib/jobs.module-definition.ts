import { ConfigurableModuleBuilder } from '@nestjs/common';
import { InvalidJobsOptionError } from './errors/jobs.errors.js';
import { parseEvery } from './schedules/schedule.js';
import type {
  BackoffOption,
  JobsModuleExtras,
  JobsModuleOptions,
  ResolvedJobsOptions,
} from './interfaces/jobs-module-options.interface.js';

export const {
  ConfigurableModuleClass: ConfigurableJobsModule,
  MODULE_OPTIONS_TOKEN: JOBS_MODULE_OPTIONS,
  OPTIONS_TYPE: JOBS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: JOBS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<JobsModuleOptions>({ moduleName: 'Jobs' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createJobsOptions')
  .setExtras<JobsModuleExtras>(
    { isGlobal: false, dataSource: undefined },
    (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
    }),
  )
  .build();

const KNOWN_OPTIONS = new Set<keyof JobsModuleOptions>([
  'runner',
  'pollInterval',
  'concurrency',
  'batchSize',
  'prefetch',
  'notify',
  'queues',
  'lease',
  'shutdownTimeout',
  'maxAttempts',
  'backoff',
  'maxBackoff',
  'retention',
]);

/** Applies every default and checks every value; the one place that knows them. */
export function resolveJobsOptions(options: JobsModuleOptions = {}): ResolvedJobsOptions {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key as keyof JobsModuleOptions)) {
      throw new InvalidJobsOptionError(
        key,
        (options as Record<string, unknown>)[key],
        `one of: ${[...KNOWN_OPTIONS].join(', ')}`,
      );
    }
  }
  const concurrency = positiveInteger('concurrency', options.concurrency, 10);
  const lease = positiveInteger('lease', options.lease, 30_000, 1_000);
  return {
    runner: flag('runner', options.runner, true),
    pollInterval: positiveInteger('pollInterval', options.pollInterval, 1_000, 10),
    concurrency,
    batchSize: positiveInteger('batchSize', options.batchSize, Math.max(concurrency, 500)),
    prefetch: positiveInteger('prefetch', options.prefetch, 200, 0),
    notify: flag('notify', options.notify, true),
    queues: queueList(options.queues),
    lease,
    shutdownTimeout: positiveInteger('shutdownTimeout', options.shutdownTimeout, 10_000, 0),
    maxAttempts: positiveInteger('maxAttempts', options.maxAttempts, 5),
    backoff: backoffOption('backoff', options.backoff) ?? 1_000,
    maxBackoff: positiveInteger('maxBackoff', options.maxBackoff, 3_600_000),
    retention: retentionOption(options.retention),
  };
}

const DAY = 86_400_000;
const RETENTION_DEFAULTS = { succeeded: DAY, cancelled: 7 * DAY, failed: 30 * DAY };

function retentionOption(value: JobsModuleOptions['retention']): ResolvedJobsOptions['retention'] {
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw new InvalidJobsOptionError(
      'retention',
      value,
      '{ succeeded?, failed?, cancelled? } with durations or false',
    );
  }
  const resolved = { ...RETENTION_DEFAULTS } as ResolvedJobsOptions['retention'];
  for (const [status, age] of Object.entries(value ?? {})) {
    if (!(status in RETENTION_DEFAULTS)) {
      throw new InvalidJobsOptionError(
        `retention.${status}`,
        age,
        'one of succeeded, failed, cancelled',
      );
    }
    resolved[status as keyof typeof RETENTION_DEFAULTS] =
      age === false
        ? null
        : age === 0 && status === 'succeeded'
          ? 0
          : parseEvery(`retention.${status}`, age);
  }
  return resolved;
}

export function positiveInteger(name: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidJobsOptionError(name, value, `an integer of at least ${min}`);
  }
  return value;
}

export function backoffOption(name: string, value: unknown): BackoffOption | undefined {
  if (value === undefined || typeof value === 'function') return value as BackoffOption | undefined;
  return positiveInteger(name, value, 0, 0);
}

function flag(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidJobsOptionError(name, value, 'true or false');
  return value;
}

function queueList(value: unknown): string[] | null {
  if (value === undefined) return null;
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((q) => typeof q === 'string' && q.length > 0 && q.length <= 100)
  ) {
    throw new InvalidJobsOptionError('queues', value, 'a non-empty array of queue names');
  }
  return value;
}
