import type {
  JobsSearch,
  JobSummary,
  KeysetPage,
  MinuteBucket,
  StatusCounts,
} from '../storage/job.queries.js';
import type { JobStatus } from '../interfaces/job-context.interface.js';
import type { JobKindInfo, JobQueueInfo } from '../interfaces/jobs-service.interface.js';
import type { KindLimits } from '../limits/kind-limits.js';

/** What the list shows: filters, a search (JobsSearch), order and a keyset cursor. */
export interface JobsQuery extends JobsSearch {
  status?: JobStatus;
  kind?: string;
  queue?: string;
  periodic?: boolean;
  /** Only the jobs of this batch (`enqueueBatch`). */
  batch?: number;
  order: 'newest' | 'oldest';
  /** The page after this id, in display order. */
  after?: number;
  /** The page before this id, in display order. */
  before?: number;
  limit: number;
}

/** One page of the list: each job without its large columns, its data as a preview. */
export type JobsPage = KeysetPage<JobSummary>;

export type { StatusCounts, MinuteBucket };

export type DashboardAction = 'run' | 'retry' | 'cancel' | 'delete';

export const DASHBOARD_ACTIONS: readonly DashboardAction[] = ['run', 'retry', 'cancel', 'delete'];

/** What an action did, job by job. */
export interface ActionReport {
  action: DashboardAction;
  /** Ids the action changed. */
  done: number[];
  /** Ids it left alone, with why (e.g. "running", "succeeded"). */
  skipped: Array<{ id: number; reason: string }>;
  /** Ids that do not exist. */
  missing: number[];
  message: string;
}

/** A job as the pages' live refresh reads it (`GET api/progress`). */
export interface LiveJob {
  id: number;
  status: JobStatus;
  /** What the handler last reported with `job.progress()`, as stored; null until it reports. */
  progress: unknown;
  /** The progress as a bar shows it (0-100, a tenth at most), or null when it is not a number. */
  percent: number | null;
}

/** A kind on the kinds page: as stored, whether it resolves here, its jobs per status, its limits. */
export interface KindRow extends JobKindInfo {
  counts: StatusCounts;
  /** The limits its code declares (`nest_job_kinds.limits`), or null for none. */
  limits: KindLimits | null;
}

/** The limits one kind declares. */
export interface KindLimitsOf {
  kind: string;
  limits: KindLimits;
}

/** A queue on the Queues page: as JobsService.queues() gives it, and the limits of its kinds. */
export interface QueueRow extends JobQueueInfo {
  /** Those of the kinds with jobs in this queue that declare limits, by name. */
  limits: KindLimitsOf[];
}

/** One end of a dependency edge (`nest_job_deps`), as a job's page lists it. */
export interface JobEdge {
  /** The other job's id. */
  id: number;
  /** Its kind, or null when its row is gone. */
  kind: string | null;
  /** Its status, or null when its row is gone. */
  status: JobStatus | null;
  /**
   * "Waits on" only: how the dependency had ended as the edge recorded it (`dep_status`), or null
   * while it has not ended (or, for a gone row, when its end was never recorded).
   */
  ended: string | null;
}

/** Both directions of a job's dependencies, each cut to EDGES_SHOWN, with how many were left out. */
export interface JobEdges {
  /** The jobs this one waits on (its dependencies; a flow's children). */
  waitsOn: JobEdge[];
  waitsOnMore: number;
  /** The jobs that wait on this one (its dependents; a flow's parent). */
  waitedOnBy: JobEdge[];
  waitedOnByMore: number;
}
