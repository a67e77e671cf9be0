import { Injectable } from '@nestjs/common';
import { JobEntity } from '../entities/job.entity.js';
import type { JobStatus } from '../interfaces/job-context.interface.js';
import type { JobBatch } from '../interfaces/jobs-service.interface.js';
import { JOB_DEPS_TABLE, JOBS_TABLE } from '../jobs.constants.js';
import {
  countsOf,
  type JobQueries,
  type JobDetail,
  type MinuteBucket,
  type StatusCounts,
} from '../storage/job.queries.js';
import { databaseOf } from '../storage/sql.js';
import { DashboardJobs } from './dashboard.jobs.js';
import { percentOf } from './dashboard.progress.js';
import type { JobEdge, JobEdges, JobsPage, JobsQuery, LiveJob } from './dashboard.types.js';

/** Characters of a job's data its page shows; the rest is a download away. */
export const DETAIL_DATA_CHARS = 100_000;

/** Dependencies a job's page lists each way at most; it says how many more there are. */
export const EDGES_SHOWN = 200;

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

  /** A batch's counts and times as `JobsService.batch()` reads them; null if there is none. */
  batch(id: number): Promise<JobBatch | null> {
    return this.jobsModule.service.batch(id);
  }

  /**
   * What a job waits on and what waits on it (`nest_job_deps`, both ways indexed), the other job's
   * kind and status joined, EDGES_SHOWN each way in id order, and how many more there are.
   */
  async edges(id: number): Promise<JobEdges> {
    const [waitsOn, waitedOnBy] = await Promise.all([
      this.edgeList(
        `SELECT d.depends_on AS id, d.dep_status AS ended, j.kind AS kind, j.status AS status
          FROM ${JOB_DEPS_TABLE} d LEFT JOIN ${JOBS_TABLE} j ON j.id = d.depends_on
          WHERE d.job_id = ? ORDER BY d.depends_on`,
        `SELECT COUNT(*) AS n FROM ${JOB_DEPS_TABLE} WHERE job_id = ?`,
        id,
      ),
      this.edgeList(
        `SELECT d.job_id AS id, j.kind AS kind, j.status AS status
          FROM ${JOB_DEPS_TABLE} d LEFT JOIN ${JOBS_TABLE} j ON j.id = d.job_id
          WHERE d.depends_on = ? ORDER BY d.job_id`,
        `SELECT COUNT(*) AS n FROM ${JOB_DEPS_TABLE} WHERE depends_on = ?`,
        id,
      ),
    ]);
    return {
      waitsOn: waitsOn.edges,
      waitsOnMore: waitsOn.more,
      waitedOnBy: waitedOnBy.edges,
      waitedOnByMore: waitedOnBy.more,
    };
  }

  /** The first EDGES_SHOWN rows of `select`; counted by `count` only when there are more. */
  private async edgeList(
    select: string,
    count: string,
    id: number,
  ): Promise<{ edges: JobEdge[]; more: number }> {
    const rows = (await this.sql(`${select} LIMIT ${EDGES_SHOWN + 1}`, [id])).rows;
    const edges = rows.slice(0, EDGES_SHOWN).map((row) => ({
      id: Number(row.id),
      kind: row.kind == null ? null : String(row.kind),
      status: row.status == null ? null : (String(row.status) as JobStatus),
      ended: row.ended == null ? null : String(row.ended),
    }));
    if (rows.length <= EDGES_SHOWN) return { edges, more: 0 };
    const total = Number((await this.sql(count, [id])).rows[0]?.n ?? 0);
    return { edges, more: Math.max(0, total - EDGES_SHOWN) };
  }

  /** One plain statement with `?` placeholders, as the module runs its own (the dialect rewrites them). */
  private sql(text: string, params: unknown[]) {
    const { dataSource, store } = this.jobsModule;
    return store.dialect.run(databaseOf(dataSource).sql, text, params);
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
