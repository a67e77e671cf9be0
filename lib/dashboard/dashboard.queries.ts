import { Injectable } from '@nestjs/common';
import type { JobEntity } from '../entities/job.entity.js';
import type { JobStatus } from '../interfaces/job-context.interface.js';
import {
  countsOf,
  type JobQueries,
  type JobDetail,
  type MinuteBucket,
  type StatusCounts,
} from '../storage/job.queries.js';
import { DashboardJobs } from './dashboard.jobs.js';
import { percentOf } from './dashboard.progress.js';
import type { JobsPage, JobsQuery, LiveJob } from './dashboard.types.js';

/** Characters of a job's data its page shows; the rest is a download away. */
export const DETAIL_DATA_CHARS = 100_000;

/**
 * What the dashboard reads, from the JobsModule it found: the SQL lives in lib/storage/job.queries.ts
 * (lists carry a preview of each job's data, never the whole of it).
 */
@Injectable()
export class DashboardQueries {
  constructor(private readonly jobsModule: DashboardJobs) {}

  private get queries(): JobQueries {
    return this.jobsModule.queries;
  }

  /**
   * One page of jobs in display order, with the cursors of the pages around it; each pending, due
   * job with why it waits (`waiting`), as `JobsService.list()` gives it.
   */
  async page(query: JobsQuery): Promise<JobsPage> {
    const page = await this.queries.page(query);
    await this.jobsModule.waiting.explain(page.jobs);
    return page;
  }

  /** Jobs per status among those the filters (other than status) select. */
  counts(query: Partial<JobsQuery> = {}): Promise<StatusCounts> {
    return this.queries.counts(query);
  }

  /** Jobs per kind and status, for the kinds page. */
  async countsByKind(): Promise<Map<string, StatusCounts>> {
    const rows = await this.jobsModule.service.counts();
    const byKind = new Map<string, StatusCounts>();
    for (const row of rows) {
      const counts = byKind.get(row.kind) ?? countsOf([]);
      counts[row.status] = Number(row.count);
      byKind.set(row.kind, counts);
    }
    return byKind;
  }

  finishedPerMinute(now?: number): Promise<MinuteBucket[]> {
    return this.queries.finishedPerMinute(now);
  }

  get(id: number): Promise<JobEntity | null> {
    return this.jobsModule.service.get(id);
  }

  /** A job for its page: its data cut to DETAIL_DATA_CHARS characters, and why it waits. */
  async detail(id: number): Promise<JobDetail | null> {
    const job = await this.queries.detail(id, DETAIL_DATA_CHARS);
    if (job) await this.jobsModule.waiting.explain([job]);
    return job;
  }

  /** A job's data, whole, as the JSON text stored. */
  dataJson(id: number): Promise<string | null> {
    return this.queries.dataJson(id);
  }

  /** Status and progress of the jobs among these that exist, for the pages' live refresh. */
  async live(ids: number[]): Promise<LiveJob[]> {
    const jobs = await this.queries.progressOf(ids);
    return jobs.map(({ id, status, progress }) => ({
      id,
      status,
      progress: progress ?? null,
      percent: percentOf(progress),
    }));
  }

  /** The ids among these that exist, with their status. */
  statuses(ids: number[]): Promise<Map<number, JobStatus>> {
    return this.queries.statuses(ids);
  }

  /** Deletes the jobs that are not running (a running job's handler still holds it); returns how many. */
  delete(ids: number[]): Promise<number> {
    return this.jobsModule.store.deleteUnlessRunning(ids);
  }
}
