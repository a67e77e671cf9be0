export { JobsModule, JOBS_ENTITIES } from './jobs.module.js';
export { JobsService } from './jobs.service.js';
export { WAITING_RUN_AT } from './jobs.constants.js';
export { JobKind, defineJobKind, type JobKindRef } from './decorators/index.js';
export { JobEntity, JobKindEntity } from './entities/index.js';
export * from './errors/index.js';
export { JobSnooze, JOB_STATUSES } from './interfaces/job-context.interface.js';
export type { JobContext, JobDependency, JobStatus } from './interfaces/job-context.interface.js';
export type {
  BackoffOption,
  JobsModuleOptions,
  JobsModuleExtras,
} from './interfaces/jobs-module-options.interface.js';
export type {
  JobKindDefaults,
  JobKindOptions,
  RateLimitOption,
} from './interfaces/job-kind-options.interface.js';
export type { JobWaiting, KindLimits } from './limits/kind-limits.js';
export {
  jobSpec,
  type AnyEnqueueSpec,
  type EnqueueOptions,
  type EnqueueSpec,
  type JobBackoff,
} from './interfaces/enqueue-options.interface.js';
export type {
  EnqueueAndWaitOptions,
  JobKindInfo,
  UnhandledKind,
  ListJobsFilter,
  RunPendingSummary,
  WaitOptions,
  JobQueueInfo,
  CancelOptions,
  EnqueueBatchOptions,
  FlowSpec,
  AnyFlowSpec,
  JobBatch,
  JobBatchHandle,
  JobFlow,
} from './interfaces/jobs-service.interface.js';
export type {
  JobSchedule,
  ListSchedulesFilter,
  ScheduleOptions,
} from './interfaces/schedule-options.interface.js';
export * from './dashboard/index.js';
export { OnJobEvent, type JobEvent, type JobEventName } from './events/index.js';
export {
  JobsHealthIndicator,
  type JobsHealthOptions,
  type JobsHealthResult,
} from './health/jobs.health.js';
export {
  JOBS_MIGRATIONS,
  JobsFlowControl1799452800000,
  JobsFlows1800662400000,
  JobsKindHandlers1796774400000,
  JobsKindPermits1800057600000,
  JobsQueues1798588800000,
  JobsRunControl1797984000000,
  JobsRunOptions1796169600000,
  JobsSchema1795478400000,
  JobsTracing1801267200000,
  JobsPendingDueIndex1801872000000,
  JobsPartialActiveKey1802476800000,
} from './migrations/index.js';
