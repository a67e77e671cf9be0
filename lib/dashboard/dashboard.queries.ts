import { Injectable } from '@nestjs/common';
import { In, Not, type Repository, type SelectQueryBuilder } from 'typeorm';
import { JobEntity } from '../entities/job.entity.js';
import { JOB_STATUSES, type JobStatus } from '../interfaces/job-context.interface.js';
import { DashboardJobs } from './dashboard.jobs.js';
import type { JobsPage, JobsQuery, MinuteBucket, StatusCounts } from './dashboard.types.js';

/** Columns of the list: everything but the large text ones (logs, error, result). */
const LIST_COLUMNS: Array<keyof JobEntity> = [
  'id',
  'kind',
  'queue',
  'data',
  'status',
  'active',
  'periodic',
  'interval',
  'failed',
  'priority',
  'runAt',
  'attempts',
  'maxAttempts',
  'created',
  'lastRun',
  'finishedAt',
  'lockedBy',
  'lockedUntil',
];

const MINUTE = 60_000;

/**
 * The dashboard's reads and its delete, on the JobsModule's own DataSource through TypeORM's query
 * builder. Pages are keyset-paginated by id, so page 20,000 costs what page 1 costs.
 */
@Injectable()
export class DashboardQueries {
  constructor(private readonly jobsModule: DashboardJobs) {}

  private get jobs(): Repository<JobEntity> {
    return this.jobsModule.dataSource.getRepository(JobEntity);
  }

  /** One page of jobs in display order, with the cursors of the pages around it. */
  async page(query: JobsQuery): Promise<JobsPage> {
    const newest = query.order === 'newest';
    const backwards = query.before !== undefined;
    // Walking backwards reads the previous page in reverse order, then flips it.
    const descending = newest !== backwards;
    const builder = this.filtered(query, true).select(
      LIST_COLUMNS.map((column) => `job.${column}`),
    );
    const cursor = backwards ? query.before : query.after;
    if (cursor !== undefined) {
      builder.andWhere(descending ? 'job.id < :cursor' : 'job.id > :cursor', { cursor });
    }
    const rows = await builder
      .orderBy('job.id', descending ? 'DESC' : 'ASC')
      .take(query.limit + 1)
      .getMany();
    const more = rows.length > query.limit;
    const jobs = rows.slice(0, query.limit);
    if (backwards) jobs.reverse();
    const first = jobs[0]?.id ?? null;
    const last = jobs[jobs.length - 1]?.id ?? null;
    return {
      jobs,
      previous: backwards ? (more ? first : null) : query.after !== undefined ? first : null,
      next: backwards ? last : more ? last : null,
    };
  }

  /** Jobs per status among those the filters (other than status) select. */
  async counts(query: Partial<JobsQuery> = {}): Promise<StatusCounts> {
    const rows = await this.filtered(query, false)
      .select('job.status', 'status')
      .addSelect('COUNT(*)', 'count')
      .groupBy('job.status')
      .getRawMany<{ status: JobStatus; count: string | number }>();
    return countsOf(rows);
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

  /** Jobs that succeeded and failed for good in each of the last 60 minutes, oldest first. */
  async finishedPerMinute(now = Date.now()): Promise<MinuteBucket[]> {
    const end = Math.floor(now / MINUTE) * MINUTE + MINUTE;
    const since = end - 60 * MINUTE;
    // The minute is worked out with integer arithmetic only, the same on every database.
    const rows = await this.jobs
      .createQueryBuilder('job')
      .select('job.status', 'status')
      .addSelect('(job.finishedAt - ((job.finishedAt - :since) % :minute))', 'minute')
      .addSelect('COUNT(*)', 'count')
      .where('job.status IN (:...finished)', { finished: ['succeeded', 'failed'] })
      .andWhere('job.finishedAt >= :since', { since, minute: MINUTE })
      .groupBy('job.status')
      .addGroupBy('minute')
      .getRawMany<{
        status: 'succeeded' | 'failed';
        minute: string | number;
        count: string | number;
      }>();
    const buckets = Array.from({ length: 60 }, (_, i) => ({
      minute: new Date(since + i * MINUTE),
      succeeded: 0,
      failed: 0,
    }));
    for (const row of rows) {
      const bucket = buckets[Math.floor((Number(row.minute) - since) / MINUTE)];
      if (bucket) bucket[row.status] += Number(row.count);
    }
    return buckets;
  }

  get(id: number): Promise<JobEntity | null> {
    return this.jobs.findOneBy({ id });
  }

  /** The ids among these that exist, with their status. */
  async statuses(ids: number[]): Promise<Map<number, JobStatus>> {
    const rows = await this.jobs.find({
      select: { id: true, status: true },
      where: { id: In(ids) },
    });
    return new Map(rows.map((row) => [row.id, row.status]));
  }

  /** Deletes the jobs that are not running (a running job's handler still holds it); returns how many. */
  async delete(ids: number[]): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await this.jobs.delete({ id: In(ids), status: Not('running') });
    return result.affected ?? 0;
  }

  private filtered(query: Partial<JobsQuery>, withStatus: boolean): SelectQueryBuilder<JobEntity> {
    const builder = this.jobs.createQueryBuilder('job').where('1 = 1');
    if (withStatus && query.status)
      builder.andWhere('job.status = :status', { status: query.status });
    if (query.kind) builder.andWhere('job.kind = :kind', { kind: query.kind });
    if (query.queue) builder.andWhere('job.queue = :queue', { queue: query.queue });
    if (query.periodic !== undefined)
      builder.andWhere('job.periodic = :periodic', { periodic: query.periodic });
    return builder;
  }
}

function countsOf(rows: Array<{ status: JobStatus; count: string | number }>): StatusCounts {
  const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as StatusCounts;
  for (const row of rows) counts[row.status] = Number(row.count);
  return counts;
}
