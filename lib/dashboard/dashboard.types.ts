import type { JobSummary, KeysetPage, MinuteBucket, StatusCounts } from '../storage/job.queries.js';
import type { JobStatus } from '../interfaces/job-context.interface.js';
import type { JobKindInfo } from '../interfaces/jobs-service.interface.js';

/** What the list shows: filters, order and a keyset cursor. */
export interface JobsQuery {
  status?: JobStatus;
  kind?: string;
  queue?: string;
  periodic?: boolean;
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

/** A kind on the kinds page: as stored, whether it resolves here, and its jobs per status. */
export interface KindRow extends JobKindInfo {
  counts: StatusCounts;
}
