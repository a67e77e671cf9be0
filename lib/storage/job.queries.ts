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

/**
 * What a search adds to the filters. `id` and `finished*` use indexes (the primary key,
 * idx_nest_jobs_finished); `text` and `created*` have none (an index on the data or the creation
 * time would cost every insert), so a page that filters by them examines at most SEARCH_SCAN_ROWS
 * rows down (or up) the primary key from its cursor and says where it stopped (`KeysetPage.scan`).
 */
export interface JobsSearch {
  /** One job. */
  id?: number;
  /** Text found, case-insensitively, in the data's JSON or in the last error. */
  text?: string;
  /** Created at or after this time (epoch ms). */
  createdFrom?: number;
  /** Created before this time (epoch ms). */
  createdTo?: number;
  /** Ended (succeeded, failed for good or cancelled) at or after this time (epoch ms). */
  finishedFrom?: number;
  /** Ended before this time (epoch ms). */
  finishedTo?: number;
  /** Rows a bounded search's page examines at most: SEARCH_SCAN_ROWS unless a test says fewer. */
  scanRows?: number;
}

export interface KeysetQuery extends JobsFilter, JobsSearch {
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
  /**
   * Set when the page came from a bounded scan (a text or creation-time search): the ids it
   * examined, in display order, and whether rows are left beyond them. A page can then hold fewer
   * jobs than asked, none even, and still have a `next` (or `previous`): the cursor to search on.
   */
  scan?: { from: number | null; to: number | null; more: boolean };
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
/** Rows one page of a text or creation-time search examines at most, whatever it finds. */
export const SEARCH_SCAN_ROWS = 20_000;
/**
 * How far out of id order a job's creation time is trusted to be. Ids and creation times are both
 * given at the insert, so they rise together, up to the clocks of the instances and the time an
 * insert waits: a creation-time search starts and stops this much beyond its range.
 */
export const CREATED_SLACK_MS = 5 * MINUTE;
/** The statuses a job has once it ended (the ones `finished_at` is set for). */
const ENDED: JobStatus[] = ['succeeded', 'failed', 'cancelled'];
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

  /**
   * Due jobs per queue, with when the longest-waiting one became due: one statement over the
   * pending rows due by `now` (the claim's index leads with status and holds run_at), for the
   * metrics' gauges, once per collection.
   */
  async dueByQueue(
    now: number,
  ): Promise<Array<{ queue: string; due: number; oldestRunAt: number }>> {
    const rows = await this.jobs
      .createQueryBuilder('job')
      .select('job.queue', 'queue')
      .addSelect('COUNT(*)', 'due')
      .addSelect('MIN(job.runAt)', 'oldest')
      .where('job.status = :pending AND job.runAt <= :now', { pending: 'pending', now })
      .groupBy('job.queue')
      .getRawMany<{ queue: string; due: string | number; oldest: string | number }>();
    return rows.map((row) => ({
      queue: row.queue,
      due: Number(row.due),
      oldestRunAt: Number(row.oldest),
    }));
  }

  /**
   * One page of jobs in display order, with the cursors of the pages around it. A text or
   * creation-time search reads a window of at most SEARCH_SCAN_ROWS rows from the cursor (the
   * page's bound, whatever it finds) and gives the cursor to search on from (`scan`).
   */
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
    this.searched(builder, query);
    let cursor = backwards ? query.before : query.after;
    let window: ScanWindow | null = null;
    if (cursor === undefined && descending && query.finishedTo !== undefined && !scanned(query)) {
      // A job ends after it was created: none created after the range's end can have ended in it,
      // so the newest first need not walk past the jobs created since (PostgreSQL's planner did).
      cursor = await this.createdStart({ ...query, createdTo: query.finishedTo }, true);
    }
    if (scanned(query)) {
      cursor ??= await this.createdStart(query, descending);
      window = await this.scanWindow(cursor, descending, query);
      if (window.edge !== null) {
        builder.andWhere(descending ? 'job.id >= :edge' : 'job.id <= :edge', {
          edge: window.edge,
        });
      }
    }
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
    if (window) return scanPage(jobs, query, cursor, window, more);
    return {
      jobs,
      previous: backwards ? (more ? first : null) : query.after !== undefined ? first : null,
      next: backwards ? last : more ? last : null,
    };
  }

  /**
   * The window a bounded search examines from `cursor` (exclusive) in the order given: up to its
   * SEARCH_SCAN_ROWS-th row (`edge`, inclusive), read from the primary key alone; null when fewer
   * rows are left, so the window runs to the end. `more` is false when nothing beyond it can match
   * (the end of the table, or, for a creation-time search, ids created well out of its range).
   */
  private async scanWindow(
    cursor: number | undefined,
    descending: boolean,
    query: KeysetQuery,
  ): Promise<ScanWindow> {
    const row = await keyset(this.jobs.createQueryBuilder('job'), descending, cursor)
      .select('job.id', 'id')
      .addSelect('job.created', 'created')
      .offset((query.scanRows ?? SEARCH_SCAN_ROWS) - 1)
      .limit(1)
      .getRawOne<{ id: number | string; created: number | string }>();
    if (!row) return { edge: null, more: false };
    const created = Number(row.created);
    const past = descending
      ? query.createdFrom !== undefined && created < query.createdFrom - CREATED_SLACK_MS
      : query.createdTo !== undefined && created >= query.createdTo + CREATED_SLACK_MS;
    return { edge: Number(row.id), more: !past };
  }

  /**
   * Where a creation-time search with no cursor starts: past the last id created before its range's
   * far end (and the slack), found by bisecting the primary key (ids and creation times rise
   * together), so a search of last month does not first examine this month. Undefined: the start.
   */
  private async createdStart(query: JobsSearch, descending: boolean): Promise<number | undefined> {
    const bound = descending ? query.createdTo : query.createdFrom;
    if (bound === undefined) return undefined;
    const limit = descending ? bound + CREATED_SLACK_MS : bound - CREATED_SLACK_MS;
    const ends = await this.jobs
      .createQueryBuilder('job')
      .select('MIN(job.id)', 'low')
      .addSelect('MAX(job.id)', 'high')
      .getRawOne<{ low: number | string | null; high: number | string | null }>();
    if (ends?.low == null || ends.high == null) return undefined;
    // The first id created at or after `limit` (descending: the page starts just below it).
    let low = Number(ends.low);
    let high = Number(ends.high) + 1;
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      const row = await this.jobs
        .createQueryBuilder('job')
        .select('job.id', 'id')
        .addSelect('job.created', 'created')
        .where('job.id >= :middle', { middle })
        .orderBy('job.id', 'ASC')
        .limit(1)
        .getRawOne<{ id: number | string; created: number | string }>();
      if (!row) high = middle;
      else if (Number(row.created) >= limit) high = middle;
      else low = Number(row.id) + 1;
    }
    // Descending: below `low` (exclusive cursor). Ascending: from the id before `low`.
    return descending ? low : low - 1;
  }

  /** The search's conditions: parameters only, a LIKE pattern with its wildcards escaped. */
  private searched(builder: SelectQueryBuilder<JobEntity>, search: JobsSearch): void {
    if (search.id !== undefined) builder.andWhere('job.id = :searchId', { searchId: search.id });
    if (search.text !== undefined) {
      builder.andWhere(
        `(LOWER(${this.data.text}) LIKE :pattern ESCAPE '!' OR LOWER(job.lastError) LIKE :pattern ESCAPE '!')`,
        { pattern: containsPattern(search.text.toLowerCase()) },
      );
    }
    if (search.createdFrom !== undefined)
      builder.andWhere('job.created >= :createdFrom', { createdFrom: search.createdFrom });
    if (search.createdTo !== undefined)
      builder.andWhere('job.created < :createdTo', { createdTo: search.createdTo });
    if (search.finishedFrom !== undefined || search.finishedTo !== undefined) {
      // Through idx_nest_jobs_finished: (status, finished_at) for each ended status.
      builder.andWhere('job.status IN (:...ended)', { ended: ENDED });
      if (search.finishedFrom !== undefined)
        builder.andWhere('job.finishedAt >= :finishedFrom', { finishedFrom: search.finishedFrom });
      if (search.finishedTo !== undefined)
        builder.andWhere('job.finishedAt < :finishedTo', { finishedTo: search.finishedTo });
    }
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

/** The rows a bounded search examines: up to `edge` (null: to the end); whether any are left past it. */
interface ScanWindow {
  edge: number | null;
  more: boolean;
}

/** A text or creation-time search examines a bounded window of rows: no index serves it. */
function scanned(query: JobsSearch): boolean {
  return (
    query.text !== undefined || query.createdFrom !== undefined || query.createdTo !== undefined
  );
}

/**
 * The cursors of a bounded search's page. A full page continues from its last job, as any page; a
 * page the window ended first continues from the window's edge (the next search starts past it).
 */
function scanPage(
  jobs: JobSummary[],
  query: KeysetQuery,
  cursor: number | undefined,
  window: ScanWindow,
  more: boolean,
): KeysetPage<JobSummary> {
  const backwards = query.before !== undefined;
  const edge = window.more ? window.edge : null;
  const onward = more ? (backwards ? jobs[0].id : jobs[jobs.length - 1].id) : edge;
  const reachedEnd = onward === null;
  // Back toward the start: from the first job shown, or from where this search began.
  // Back: the window before this one, from where this page began (none on a search's first page,
  // even when the cursor came from its creation time).
  const given = backwards ? query.before : query.after;
  const back = given === undefined ? null : (cursor ?? null);
  const stoppedAt = more ? onward : (window.edge ?? null);
  return {
    jobs,
    previous: backwards ? onward : back,
    next: backwards ? back : onward,
    scan: {
      from: backwards ? stoppedAt : (cursor ?? null),
      to: backwards ? (cursor ?? null) : stoppedAt,
      more: !reachedEnd,
    },
  };
}

/** `%text%` for LIKE ... ESCAPE '!': the user's `%`, `_` and `!` match themselves. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[!%_]/g, (char) => `!${char}`)}%`;
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
