import { ConfigurableModuleBuilder } from '@nestjs/common';
import { InvalidJobsOptionError } from './errors/jobs.errors.js';
import { defineJobKind, type JobKindRef } from './decorators/job-kind.decorator.js';
import {
  backoffOption,
  duration,
  flag,
  jobKindName,
  knownKeys,
  positiveInteger,
  queueList,
  timerDuration,
} from './options/index.js';
import { DEFAULT_MAX_PAYLOAD_SIZE } from './jobs.payload.js';
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
  // Global by default, as TypeOrmModule.forRoot and ScheduleModule.forRoot are: JobsService is an
  // app-wide handle, and feature modules should inject it without importing the root module again.
  .setExtras<JobsModuleExtras>({ isGlobal: true, dataSource: undefined }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();

const KNOWN_OPTIONS = new Set<keyof JobsModuleOptions>([
  'runner',
  'pollInterval',
  'concurrency',
  'batchSize',
  'prefetch',
  'notify',
  'asyncClaimCommit',
  'queues',
  'lease',
  'shutdownTimeout',
  'maxAttempts',
  'backoff',
  'maxBackoff',
  'timeout',
  'retention',
  'maxPayloadSize',
  'kinds',
  'schema',
  'telemetry',
]);

/** Applies every default and checks every value; the one place that knows them. */
/** A run's time limit for kinds that set none: 30 minutes. */
export const DEFAULT_TIMEOUT = 30 * 60_000;

export function resolveJobsOptions(options: JobsModuleOptions = {}): ResolvedJobsOptions {
  knownKeys('JobsModule', options, KNOWN_OPTIONS);
  const concurrency = positiveInteger('concurrency', options.concurrency, 10);
  const lease = timerDuration('lease', options.lease, 30_000, 1_000);
  return {
    runner: flag('runner', options.runner, true),
    pollInterval: timerDuration('pollInterval', options.pollInterval, 1_000, 10),
    concurrency,
    batchSize: positiveInteger('batchSize', options.batchSize, Math.max(concurrency, 500)),
    prefetch: positiveInteger('prefetch', options.prefetch, 200, 0),
    notify: flag('notify', options.notify, true),
    asyncClaimCommit: flag('asyncClaimCommit', options.asyncClaimCommit, false),
    queues: queueList(options.queues),
    lease,
    shutdownTimeout: timerDuration('shutdownTimeout', options.shutdownTimeout, 10_000, 0),
    maxAttempts: positiveInteger('maxAttempts', options.maxAttempts, 5),
    backoff: backoffOption('backoff', options.backoff) ?? 1_000,
    maxBackoff: duration('maxBackoff', options.maxBackoff, 3_600_000),
    timeout: timerDuration('timeout', options.timeout, DEFAULT_TIMEOUT, 0),
    retention: retentionOption(options.retention),
    kinds: declaredKinds(options.kinds),
    maxPayloadSize: positiveInteger(
      'maxPayloadSize',
      options.maxPayloadSize,
      DEFAULT_MAX_PAYLOAD_SIZE,
      1_024,
    ),
    schema: schemaOption(options.schema),
    telemetry: flag('telemetry', options.telemetry, true),
  };
}

function schemaOption(value: unknown): ResolvedJobsOptions['schema'] {
  if (value === undefined) return 'auto';
  if (value !== 'auto' && value !== 'migrations') {
    throw new InvalidJobsOptionError('schema', value, "'auto' or 'migrations'");
  }
  return value;
}

/** The `kinds` option: names, or `defineJobKind()` references with the defaults they carry. */
function declaredKinds(value: unknown): ResolvedJobsOptions['kinds'] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new InvalidJobsOptionError(
      'kinds',
      value,
      'an array of kind names or job kind references',
    );
  }
  return value.map((kind: unknown, i) => {
    const ref = typeof kind === 'object' && kind !== null ? (kind as JobKindRef<unknown>) : null;
    const name = jobKindName(`kinds[${i}]`, ref ? ref.name : kind);
    return { name, defaults: defineJobKind(name, ref?.defaults).defaults ?? {} };
  });
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
          : duration(`retention.${status}`, age, 0);
  }
  return resolved;
}
