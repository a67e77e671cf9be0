import type { JobEntity } from '../entities/job.entity.js';
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

export interface JobsPage {
  jobs: JobEntity[];
  /** Cursor (`before`) of the page before this one, or null on the first page. */
  previous: number | null;
  /** Cursor (`after`) of the page after this one, or null on the last page. */
  next: number | null;
}

export type StatusCounts = Record<JobStatus, number>;

export interface MinuteBucket {
  minute: Date;
  succeeded: number;
  failed: number;
}

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
