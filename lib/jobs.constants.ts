/** Metadata key that `@JobKind()` writes on a handler method. */
export const JOB_KIND_METADATA = 'jobs:kind';

/** Metadata key that `@OnJobEvent()` writes on a listener method. */
export const JOB_EVENT_METADATA = 'jobs:event';

/** Injection token of the DataSource the module works through. */
export const JOBS_DATA_SOURCE = Symbol('jobs:data-source');

/** Injection token of the resolved (defaulted and validated) options. */
export const JOBS_RESOLVED_OPTIONS = Symbol('jobs:resolved-options');

/** Name under which the runner's timers are registered in @nestjs/schedule's SchedulerRegistry. */
export const RUNNER_POLL_INTERVAL = 'nestjs-typeorm-jobs:poll';
export const RUNNER_LEASE_INTERVAL = 'nestjs-typeorm-jobs:lease';

export const JOBS_TABLE = 'nest_jobs';
export const JOB_KINDS_TABLE = 'nest_job_kinds';
/** Queues with a state of their own (paused); a queue with none is simply running. */
export const JOB_QUEUES_TABLE = 'nest_job_queues';
/** One row per start of a rate-limited kind (see lib/limits/limited-claim.ts). */
export const JOB_STARTS_TABLE = 'nest_job_starts';
/** When each group of a kind with group limits was last served (the limited claim's fairness). */
export const JOB_GROUPS_TABLE = 'nest_job_groups';
/** The slots of a kind's cluster-wide concurrency each instance holds (see lib/limits/kind-permits.ts). */
export const JOB_PERMITS_TABLE = 'nest_job_permits';
/** What a job waits on: one row per dependency (see lib/flows/). */
export const JOB_DEPS_TABLE = 'nest_job_deps';
/** Batches of jobs, with their callback and, once every job of one has ended, its counts. */
export const JOB_BATCHES_TABLE = 'nest_job_batches';
/**
 * The `run_at` of a job waiting on dependencies: never due (the plain claim's `run_at <= now` leaves
 * it out, so the claim needs no other filter), until its last dependency makes it due.
 */
export const WAITING_RUN_AT = 8_640_000_000_000_000;

/** Logs keep their newest characters up to this length (a TEXT column holds 64 KiB on MySQL). */
export const MAX_LOG_CHARS = 16_000;
/** One line of a job's logs (from `job.log()`, a returned string, an error summary) is cut to this length. */
export const MAX_LOG_LINE_CHARS = 2_000;
/** An error message is cut to this length before it is stored. */
export const MAX_ERROR_CHARS = 4_000;
/** A stored result may take at most this many characters of JSON. */
export const MAX_RESULT_CHARS = 1_000_000;

/**
 * A kind counts as handled while an instance whose runner has its handler said so within this long
 * (they say it at start and about once a minute; see Housekeeper).
 */
export const HANDLER_STALE_MS = 5 * 60_000;
