import {
  In,
  type DataSource,
  type EntityManager,
  type Repository,
  type SelectQueryBuilder,
} from 'typeorm';
import { JobEntity } from '../entities/job.entity.js';
import { JOB_STATUSES, type JobStatus } from '../interfaces/job-context.interface.js';
import type { ListJobsFilter } from '../interfaces/jobs-service.interface.js';
import { dataText } from './dialects/data-text.js';

/**
 * Every read of the jobs table (the service's `get` and `list`, health, the dashboard, the CLI),
 * through TypeORM's query builder. Pages are keyset-paginated by id, so page 20,000 costs what page 1 costs.
 * A list never carries a job's data whole: only a preview cut in SQL, so a page of jobs holding
 * megabytes each costs what a page of small ones does, in the database, on the wire and in memory.
 */

/** Characters of a job's JSON data a list row carries. */
export const DATA_PREVIEW_CHARS = 300;

/** What a list shows of a job: every field but the large ones, and the start of its data. */
export type JobSummary = Omit<JobEntity, 'data' | 'logs' | 'result' | 'lastError'> & {
  /** The first DATA_PREVIEW_CHARS characters of the data's JSON ('null' when it has none). */
  dataPreview: string;
  /** The JSON goes on past the preview. */
  dataTruncated: boolean;
};

/** A job for its page: every field, but its data as JSON text cut to `dataLimit` characters. */
export type JobDetail = Omit<JobEntity, 'data'> & { dataText: string; dataLength: number };

export interface JobsFilter {
  status?: JobStatus;
  kind?: string;
  queue?: string;
  periodic?: boolean;
  /** The jobs of one batch (`batch_id`, indexed with the status). */
  batch?: number;
}

export interface KeysetQuery extends JobsFilter {
  order: 'newest' | 'oldest';
  /** The page after this id, in display order. */
  after?: number;
  /** The page before this id, in display order. */
  before?: number;
  limit: number;
}

export interface KeysetPage<T> {
  jobs: T[];
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

/** Columns of a list row: everything but the large text ones (data, logs, error, result). */
const SUMMARY_COLUMNS: Array<keyof JobEntity> = [
  'id',
  'kind',
  'queue',
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
  // The key per-group limits count by; with kind, queue, status and runAt, what
  // WaitingReasons.explain() needs to say why a listed job waits.
  'group',
  // Dependencies not yet ended (a flow's): why a pending job is not due, and the batch it is in.
  'dependenciesLeft',
  'batchId',
  // At most 64 KiB (the runner refuses more), and usually a number.
  'progress',
];

const MINUTE = 60_000;
/** Jobs one `list()` returns at most. */
const MAX_LIST = 1_000;

export class JobQueries {
  private readonly jobs: Repository<JobEntity>;
  private readonly data: ReturnType<typeof dataText>;

  constructor(dataSource: DataSource) {
    this.jobs = dataSource.getRepository(JobEntity);
    this.data = dataText(String(dataSource.options.type));
  }

  /** One job, whole; through `manager` (e.g. a transaction's) if given. */
  get(id: number, manager?: EntityManager): Promise<JobEntity | null> {
    return (manager ? manager.getRepository(JobEntity) : this.jobs).findOneBy({ id });
  }

  /** The jobs of these ids, in that order (missing ones left out). */
  async getMany(ids: number[], manager?: EntityManager): Promise<JobEntity[]> {
    if (ids.length === 0) return [];
    const repository = (manager ?? this.jobs.manager).getRepository(JobEntity);
    const found = new Map((await repository.findBy({ id: In(ids) })).map((job) => [job.id, job]));
    return ids.flatMap((id) => found.get(id) ?? []);
  }

  /** Jobs matching the filter, whole, newest (or oldest) first, from the keyset cursor `after`. */
  list(filter: ListJobsFilter = {}): Promise<JobEntity[]> {
    const descending = (filter.order ?? 'newest') === 'newest';
    const builder = this.filtered(filter, true);
    return keyset(builder, descending, filter.after)
      .take(Math.min(Math.max(filter.limit ?? 100, 1), MAX_LIST))
      .getMany();
  }

  /** When the longest-waiting due job became due, or null if none is due. */
  async oldestDue(now: number): Promise<Date | null> {
    const row = await this.jobs
      .createQueryBuilder('job')
      .select('MIN(job.runAt)', 'oldest')
      .where('job.status = :pending AND job.runAt <= :now', { pending: 'pending', now })
      .getRawOne<{ oldest: string | number | null }>();
    return row?.oldest == null ? null : new Date(Number(row.oldest));
  }

  /** One page of jobs in display order, with the cursors of the pages around it. */
  async page(query: KeysetQuery): Promise<KeysetPage<JobSummary>> {
    const newest = query.order === 'newest';
    const backwards = query.before !== undefined;
    // Walking backwards reads the previous page in reverse order, then flips it.
    const descending = newest !== backwards;
    const builder = this.filtered(query, true)
      .select(SUMMARY_COLUMNS.map((column) => `job.${column}`))
      // One character more than shown says whether there is more, without measuring it all
      // (the length of a large value costs its whole decompression on PostgreSQL).
      .addSelect(this.data.cut(DATA_PREVIEW_CHARS + 1), 'data_preview');
    const cursor = backwards ? query.before : query.after;
    const { entities, raw } = await keyset(builder, descending, cursor)
      .take(query.limit + 1)
      .getRawAndEntities();
    const extras = new Map(raw.map((row) => [Number(row.job_id), row]));
    const rows = entities.map((job) => summary(job, extras.get(job.id)));
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

  /** One job with its data as JSON text, at most `dataLimit` characters of it; null if none. */
  async detail(id: number, dataLimit: number): Promise<JobDetail | null> {
    const columns = this.jobs.metadata.columns
      .map((column) => column.propertyName as keyof JobEntity)
      .filter((name) => name !== 'data' && name !== 'kindRef');
    const { entities, raw } = await this.jobs
      .createQueryBuilder('job')
      .select(columns.map((column) => `job.${column}`))
      .addSelect(this.data.cut(dataLimit), 'data_text')
      .addSelect(this.data.length, 'data_length')
      .where('job.id = :id', { id })
      .getRawAndEntities();
    if (entities.length === 0) return null;
    const job = entities[0] as Omit<JobEntity, 'data'>;
    return Object.assign(job, {
      dataText: raw[0].data_text == null ? 'null' : String(raw[0].data_text),
      dataLength: raw[0].data_length == null ? 4 : Number(raw[0].data_length),
    });
  }

  /** The data's JSON text whole, as stored (never parsed here); null if there is no such job. */
  async dataJson(id: number): Promise<string | null> {
    const row = await this.jobs
      .createQueryBuilder('job')
      .select(this.data.text, 'data')
      .where('job.id = :id', { id })
      .getRawOne<{ data: string | null }>();
    if (!row) return null;
    return row.data == null ? 'null' : String(row.data);
  }

  /** Jobs per status among those the filters (other than status) select. */
  async counts(filter: JobsFilter = {}): Promise<StatusCounts> {
    const rows = await this.filtered(filter, false)
      .select('job.status', 'status')
      .addSelect('COUNT(*)', 'count')
      .groupBy('job.status')
      .getRawMany<{ status: JobStatus; count: string | number }>();
    return countsOf(rows);
  }

  /** Jobs per status in each queue that has any. */
  async countsByQueue(): Promise<Map<string, StatusCounts>> {
    const rows = await this.jobs
      .createQueryBuilder('job')
      .select('job.queue', 'queue')
      .addSelect('job.status', 'status')
      .addSelect('COUNT(*)', 'count')
      .groupBy('job.queue')
      .addGroupBy('job.status')
      .getRawMany<{ queue: string; status: JobStatus; count: string | number }>();
    const byQueue = new Map<string, Array<{ status: JobStatus; count: string | number }>>();
    for (const row of rows) {
      const list = byQueue.get(row.queue) ?? [];
      byQueue.set(row.queue, [...list, row]);
    }
    return new Map([...byQueue].map(([queue, list]) => [queue, countsOf(list)]));
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

  /** Status and progress of the jobs among these that exist (the dashboard's live refresh). */
  async progressOf(ids: number[]): Promise<Array<Pick<JobEntity, 'id' | 'status' | 'progress'>>> {
    if (ids.length === 0) return [];
    return this.jobs.find({
      select: { id: true, status: true, progress: true },
      where: { id: In(ids) },
    });
  }

  /** The ids among these that exist, with their status. */
  async statuses(ids: number[]): Promise<Map<number, JobStatus>> {
    if (ids.length === 0) return new Map();
    const rows = await this.jobs.find({
      select: { id: true, status: true },
      where: { id: In(ids) },
    });
    return new Map(rows.map((row) => [row.id, row.status]));
  }

  private filtered(
    filter: Omit<JobsFilter, 'status'> & Omit<ListJobsFilter, 'order' | 'after' | 'limit'>,
    withStatus: boolean,
  ): SelectQueryBuilder<JobEntity> {
    const builder = this.jobs.createQueryBuilder('job').where('1 = 1');
    if (withStatus && filter.status !== undefined) {
      builder.andWhere('job.status IN (:...status)', { status: [filter.status].flat() });
    }
    for (const column of ['kind', 'queue', 'periodic', 'active', 'failed'] as const) {
      const value = filter[column];
      if (value !== undefined) builder.andWhere(`job.${column} = :${column}`, { [column]: value });
    }
    if (filter.batch !== undefined)
      builder.andWhere('job.batchId = :batch', { batch: filter.batch });
    return builder;
  }
}

/** The one keyset paginator: by id, from `cursor` (exclusive), in the order asked. */
function keyset(
  builder: SelectQueryBuilder<JobEntity>,
  descending: boolean,
  cursor: number | undefined,
): SelectQueryBuilder<JobEntity> {
  if (cursor !== undefined) {
    builder.andWhere(descending ? 'job.id < :cursor' : 'job.id > :cursor', { cursor });
  }
  return builder.orderBy('job.id', descending ? 'DESC' : 'ASC');
}

function summary(job: JobEntity, raw: Record<string, unknown> | undefined): JobSummary {
  const { data: _data, logs: _logs, result: _result, lastError: _error, ...fields } = job;
  const preview = raw?.data_preview == null ? 'null' : String(raw.data_preview);
  return {
    ...fields,
    dataPreview: preview.slice(0, DATA_PREVIEW_CHARS),
    dataTruncated: preview.length > DATA_PREVIEW_CHARS,
  };
}

export function countsOf(rows: Array<{ status: JobStatus; count: string | number }>): StatusCounts {
  const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as StatusCounts;
  for (const row of rows) counts[row.status] = Number(row.count);
  return counts;
}
