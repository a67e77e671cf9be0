import {
  JOB_GROUPS_TABLE,
  JOB_PERMITS_TABLE,
  JOB_QUEUES_TABLE,
  JOBS_TABLE,
  MAX_LOG_CHARS,
} from '../../jobs.constants.js';
import { activeColumnsSql } from '../../jobs.states.js';
import { placeholders, type Sql, type SqlResult } from '../sql.js';
import { priorityRanges, type PriorityRange } from '../due-ranges.js';
import type {
  ClaimRequest,
  ClaimedJob,
  FinishShape,
  HeldJob,
  JobUpdate,
  NewJobRow,
} from '../job-rows.js';
import type { LimitedClaimSql } from '../../limits/limited-claim.js';
import type { PermitSql } from '../../limits/kind-permits.js';
import type { FlowSql } from '../../flows/flow.steps.js';

const T = JOBS_TABLE;

/** A notification a statement sends on commit: its channel and payload. */
export interface Notify {
  channel: string;
  payload: string;
}

/** The columns of an INSERT, in the order `insertValues` gives them. */
export const INSERT_COLUMNS =
  'kind, kind_id, queue, data, status, periodic, interval_ms, priority, run_at, max_attempts, created, unique_key, active_key, schedule, timeout_ms, backoff, group_key, has_dependents, deps_left, batch_id, trace_context';
const INSERT_ROW = `(?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/**
 * SQL true for a job whose end must be settled (lib/flows/): some job waits on it, it waited on
 * others, or it belongs to a batch. The statements that end runs report it (PostgreSQL and SQLite
 * in their RETURNING), so a job that is none of these costs no statement more.
 */
export function linkedSql(prefix = ''): string {
  return `(${prefix}has_dependents = TRUE OR ${prefix}deps_left IS NOT NULL OR ${prefix}batch_id IS NOT NULL)`;
}

/** What the statements that end runs tell beside whether each held (all optional). */
export interface FinishReport {
  /** Ids of jobs some instance waits for (PostgreSQL: it NOTIFYs them). */
  awaited?: number[];
  /** Ids of linked jobs (see linkedSql) whose end was written: their ends must be settled. */
  linked?: number[];
}

export function insertValues(row: NewJobRow): unknown[] {
  return [
    row.kind,
    row.kindId,
    row.queue,
    row.data,
    row.periodic,
    row.interval,
    row.priority,
    row.runAt,
    row.maxAttempts,
    row.created,
    row.uniqueKey,
    row.uniqueKey,
    row.schedule,
    row.timeout ?? null,
    row.backoff ?? null,
    row.group ?? null,
    row.hasDependents ?? false,
    row.dependenciesLeft ?? null,
    row.batchId ?? null,
    row.traceContext ?? null,
  ];
}

/** The columns a claim returns, in the order `claimedJobOf` reads them; the data follows them. */
const CLAIM_COLUMNS = [
  'id',
  'kind',
  'queue',
  'attempts',
  'max_attempts',
  'periodic',
  'interval_ms',
  'unique_key',
  'schedule',
  'run_at',
  'priority',
  'timeout_ms',
  'backoff',
  'group_key',
  'trace_context',
] as const;
/** Where each column is among a claim's values; the data is last. */
const AT = Object.fromEntries(CLAIM_COLUMNS.map((column, i) => [column, i])) as Record<
  (typeof CLAIM_COLUMNS)[number] | 'data',
  number
>;
AT.data = CLAIM_COLUMNS.length;

/** The columns a claim returns (read by `claimedJob`), with the data as JSON text last. */
export function claimColumns(dataAsText: string, prefix = ''): string {
  return CLAIM_COLUMNS.map((column) => prefix + column)
    .concat(`${dataAsText} AS data`)
    .join(', ');
}

/** Who holds a job: its status, the owner that claimed it (null: none) and its attempts (the claim). */
export interface JobHolder {
  status: string;
  lockedBy: string | null;
  attempts: number;
}

/**
 * `(id = ? AND attempts = ?) OR ...`: the rows of these claims, each still at the attempt it was
 * claimed as (every database reads it as lookups of the primary key).
 */
function claimsSql(jobs: HeldJob[]): { text: string; params: number[] } {
  return {
    text: jobs.map(() => '(id = ? AND attempts = ?)').join(' OR '),
    params: jobs.flatMap((job) => [job.id, job.attempts]),
  };
}

/**
 * SQL that differs between databases; everything else is written once, here. Every statement uses
 * `?` placeholders; a dialect rewrites them if its driver wants another form.
 */
export abstract class JobsDialect {
  abstract readonly name: 'postgres' | 'mysql' | 'sqlite';

  /**
   * Inserts rows (none with a unique key) and returns their ids in order (INSERT ... RETURNING).
   * `notify` (PostgreSQL only): a NOTIFY the same statement sends, delivered when it commits.
   */
  async insertMany(sql: Sql, rows: NewJobRow[], notify?: Notify | null): Promise<number[]> {
    const result = await this.run(
      sql,
      this.insertStatement(rows.length, ' RETURNING id'),
      rows.flatMap(insertValues),
    );
    return result.rows.map((row) => Number(row.id));
  }

  /**
   * Inserts a row with a unique key; null when an active job holds that key already. The conflict
   * target names the keyed rows: PostgreSQL's unique index of active keys is partial
   * (JobsPartialActiveKey1802476800000); SQLite's constraint takes the same statement.
   */
  async insertUnlessDuplicate(sql: Sql, row: NewJobRow): Promise<number | null> {
    const result = await this.run(
      sql,
      this.insertStatement(
        1,
        ' ON CONFLICT (active_key) WHERE active_key IS NOT NULL DO NOTHING RETURNING id',
      ),
      insertValues(row),
    );
    return result.rows.length ? Number(result.rows[0].id) : null;
  }

  /** Atomically marks up to `limit` due jobs running for `owner` and returns them. */
  abstract claim(sql: Sql, request: ClaimRequest): Promise<ClaimedJob[]>;

  /** `expression` with `value` appended, keeping the newest MAX_LOG_CHARS characters. */
  protected abstract appendExpression(expression: string, value: string): string;

  /** `expression` with a placeholder's text appended, keeping the newest MAX_LOG_CHARS. */
  protected appendText(expression: string): string {
    return this.appendExpression(expression, '?');
  }

  /** A placeholder for a BIGINT where the database cannot infer the type (inside CASE). */
  protected bigintParam(): string {
    return '?';
  }

  /** Rewrites `?` placeholders into the driver's own. */
  prepare(statement: string): string {
    return statement;
  }

  run<Row = Record<string, unknown>>(
    sql: Sql,
    statement: string,
    params?: unknown[],
  ): Promise<SqlResult<Row>> {
    return sql<Row>(this.prepare(statement), params);
  }

  protected insertStatement(count: number, suffix = ''): string {
    return `INSERT INTO ${T} (${INSERT_COLUMNS}) VALUES ${new Array(count).fill(INSERT_ROW).join(', ')}${suffix}`;
  }

  /**
   * Due jobs of these kinds (and queues), none of a paused queue (`nest_job_queues`); of the
   * priorities in `range` when one is given (see due-ranges.ts).
   */
  protected claimFilter(
    request: Pick<ClaimRequest, 'now' | 'kinds' | 'queues' | 'priorities'>,
    range?: PriorityRange,
  ): {
    where: string;
    params: unknown[];
  } {
    // (`kind || ''`: see PriorityRange.gap.)
    let where = `status = 'pending'${range ? ` AND ${range.sql}` : ''} AND run_at <= ?
      AND ${range?.gap ? "kind || ''" : 'kind'} IN (${placeholders(request.kinds.length)})
      AND queue NOT IN (SELECT name FROM ${JOB_QUEUES_TABLE} WHERE paused = TRUE)`;
    const params: unknown[] = [...(range?.params ?? []), request.now, ...request.kinds];
    if (request.queues) {
      where += ` AND queue IN (${placeholders(request.queues.length)})`;
      params.push(...request.queues);
    }
    return { where, params };
  }

  /**
   * The ids of the first `limit` due jobs in claim order, read by ranges of the due index that end
   * at the first job not yet due (see due-ranges.ts): one branch of a UNION ALL per range, under
   * one LIMIT, so a branch past the limit is never read. `lock` ends each branch (PostgreSQL's
   * FOR UPDATE SKIP LOCKED).
   */
  dueIds(
    request: Pick<ClaimRequest, 'now' | 'kinds' | 'queues' | 'priorities'>,
    limit: number,
    lock = '',
  ): { text: string; params: unknown[] } {
    const params: unknown[] = [];
    const branches = priorityRanges(request.priorities).map((range, i) => {
      const { where, params: own } = this.claimFilter(request, range);
      params.push(...own, limit);
      return `SELECT id FROM (SELECT id FROM ${T} WHERE ${where} ${JobsDialect.CLAIM_ORDER} LIMIT ?${lock}) r${i}`;
    });
    params.push(limit);
    return { text: `${branches.join(' UNION ALL ')} LIMIT ?`, params };
  }

  protected static readonly CLAIM_ORDER = 'ORDER BY priority, run_at, id';

  /** How this database locks for the limited claim, and reads the data as text. */
  protected abstract readonly limitedLocks: {
    kindLock: string | null;
    kindShareLock: string | null;
    rowLock: string;
    groupLock: string;
    dataAsText: string;
  };

  /** The database's part of the limited claim (lib/limits/limited-claim.ts). */
  limitedClaimSql(): LimitedClaimSql {
    const { kindLock, kindShareLock, rowLock, groupLock, dataAsText } = this.limitedLocks;
    return {
      kindLock,
      kindShareLock,
      rowLock,
      groupLock,
      insertGroups: (count) => this.insertGroups(count),
      updateReturning: this.name !== 'mysql',
      columns: claimColumns(dataAsText),
      dueFilter: (request) => this.claimFilter(request),
      claimedJob: (row, offset) => JobsDialect.claimedJob(row, offset),
      upsertServed: (count) => this.upsertServed(count),
    };
  }

  /** The database's part of dependencies and batches (lib/flows/flow.steps.ts). */
  async flowSql(): Promise<FlowSql> {
    return {
      rowLock: this.limitedLocks.rowLock,
      returningId: ' RETURNING id',
      idsOf: (result) => result.rows.map((row) => Number(row.id)),
      insertJobs: (count) => this.insertStatement(count),
      insertValues,
    };
  }

  /** The database's part of the permits' acquisition (lib/limits/kind-permits.ts). */
  permitSql(): PermitSql {
    return {
      kindLock: this.limitedLocks.kindLock,
      upsertPermits: (count) => this.upsertPermits(count),
    };
  }

  /** Inserts or updates rows (kind, owner, permits, held_until) of nest_job_permits. */
  protected upsertPermits(count: number): string {
    return `INSERT INTO ${JOB_PERMITS_TABLE} (kind, owner, permits, held_until) VALUES ${new Array(count).fill('(?, ?, ?, ?)').join(', ')}
      ON CONFLICT (kind, owner) DO UPDATE SET permits = excluded.permits, held_until = excluded.held_until`;
  }

  /** Inserts rows (kind, group_key, last_start) of nest_job_groups unless they exist. */
  protected insertGroups(count: number): string {
    return `INSERT INTO ${JOB_GROUPS_TABLE} (kind, group_key, last_start) VALUES ${new Array(count).fill('(?, ?, ?)').join(', ')}
      ON CONFLICT (kind, group_key) DO NOTHING`;
  }

  /** Inserts or updates rows (kind, group_key, last_start) of nest_job_groups. */
  protected upsertServed(count: number): string {
    return `INSERT INTO ${JOB_GROUPS_TABLE} (kind, group_key, last_start) VALUES ${new Array(count).fill('(?, ?, ?)').join(', ')}
      ON CONFLICT (kind, group_key) DO UPDATE SET last_start = excluded.last_start`;
  }

  /** Whether any job of these kinds is due (one statement, no lock): the limited claim's look first. */
  async anyDue(
    sql: Sql,
    request: Pick<ClaimRequest, 'now' | 'kinds' | 'queues' | 'priorities'>,
  ): Promise<boolean> {
    const { text, params } = this.dueIds(request, 1);
    const result = await this.run(sql, text, params);
    return result.rows.length > 0;
  }

  /**
   * Writes the ends of several runs of one owner in one statement, each only while that owner still
   * holds the job. Returns, per update, whether it held. Where the database says it in the same
   * statement (PostgreSQL), the ids of jobs someone waits for (`awaited`) are pushed to `awaited`.
   */
  abstract finish(
    sql: Sql,
    owner: string,
    updates: JobUpdate[],
    shape: FinishShape,
    report?: FinishReport,
  ): Promise<boolean[]>;

  /**
   * Deletes succeeded jobs in place of writing their outcome (retention `succeeded: 0`), each only
   * while `owner` still holds it by the same claim. Returns, per job, whether it held; `awaited` as
   * for `finish`. A linked job (see linkedSql) is never deleted here: its end is written, and settled.
   */
  abstract deleteHeld(
    sql: Sql,
    owner: string,
    jobs: HeldJob[],
    report?: FinishReport,
  ): Promise<boolean[]>;

  /** The assignments of `finish`, reading the new values from the row source `v` (its columns v_*). */
  protected finishAssignments(shape: FinishShape, target = ''): string {
    const set = (column: string, value: string) => `${target}${column} = ${value}`;
    const result = set('result', this.jsonFromText('v.v_result'));
    const unlocked = `${set('locked_by', 'NULL')}, ${set('locked_until', 'NULL')}`;
    if (shape === 'success') {
      // No unique key to release: `active_key` is null and stays so (SQLite would otherwise write
      // the key's index entry for every job; measured 0.6 of 4.8 µs a job of its finish).
      return `${set('status', "'succeeded'")}, ${set('active', 'FALSE')},
       ${set('failed', 'FALSE')}, ${set('finished_at', 'v.v_finished_at')}, ${set('last_error', 'NULL')},
       ${result}, ${unlocked}`;
    }
    return `${set('status', 'v.v_status')}, ${activeColumnsSql('v.v_status', `${target}active_key`, target)},
       ${set('failed', 'v.v_failed')}, ${set('run_at', 'v.v_run_at')}, ${set('attempts', 'v.v_attempts')},
       ${set('finished_at', 'v.v_finished_at')}, ${set('last_error', 'v.v_last_error')}, ${result},
       ${set('logs', `CASE WHEN v.v_logs = '' THEN ${target}logs ELSE ${this.appendExpression(`${target}logs`, 'v.v_logs')} END`)},
       ${unlocked}`;
  }

  /**
   * The columns of the row source of `finish` per shape, in the order `finishValues` gives them,
   * each with its PostgreSQL array type (the row source is an `unnest` there).
   */
  protected static readonly FINISH_COLUMNS: Record<FinishShape, ReadonlyArray<[string, string]>> = {
    any: [
      ['v_id', 'int'],
      ['v_status', 'text'],
      ['v_failed', 'bool'],
      ['v_run_at', 'bigint'],
      ['v_attempts', 'int'],
      ['v_finished_at', 'bigint'],
      ['v_last_error', 'text'],
      ['v_result', 'text'],
      ['v_logs', 'text'],
      ['v_held', 'int'],
    ],
    success: [
      ['v_id', 'int'],
      ['v_finished_at', 'bigint'],
      ['v_result', 'text'],
      ['v_held', 'int'],
    ],
  };

  /** The names of the row source's columns of a finish of this shape. */
  protected static finishColumns(shape: FinishShape): string[] {
    return JobsDialect.FINISH_COLUMNS[shape].map(([name]) => name);
  }

  protected static finishValues(update: JobUpdate, shape: FinishShape): unknown[] {
    if (shape === 'success')
      return [update.id, update.finishedAt, update.result, update.heldAttempt];
    return [
      update.id,
      update.status,
      update.failed,
      update.runAt,
      update.attempts,
      update.finishedAt,
      update.lastError,
      update.result,
      update.appendLogs,
      update.heldAttempt,
    ];
  }

  /** An expression turning JSON text into the column's JSON type. */
  protected jsonFromText(expression: string): string {
    return expression;
  }

  /** Per id, whether it came back in the statement's rows (their `id` column). */
  protected static heldOf(
    jobs: ReadonlyArray<{ id: number }>,
    rows: Array<Record<string, unknown>>,
  ): boolean[] {
    const held = new Set(rows.map((row) => Number(row.id)));
    return jobs.map((job) => held.has(job.id));
  }

  /**
   * Pauses (or resumes) a queue for every instance; returns whether that changed anything. A queue
   * first paused gets its row; a resumed one keeps it.
   */
  async setQueuePaused(sql: Sql, name: string, paused: boolean, now: number): Promise<boolean> {
    const flag = paused ? 'TRUE' : 'FALSE';
    const changed = await this.run(
      sql,
      `UPDATE ${JOB_QUEUES_TABLE} SET paused = ${flag}, modified = ? WHERE name = ? AND paused <> ${flag}`,
      [now, name],
    );
    if (changed.affected > 0 || !paused) return changed.affected > 0;
    return this.insertQueueUnlessPresent(sql, name, now);
  }

  /** Inserts a paused queue's row unless it exists; returns whether it did. */
  protected async insertQueueUnlessPresent(sql: Sql, name: string, now: number): Promise<boolean> {
    const result = await this.run(
      sql,
      `INSERT INTO ${JOB_QUEUES_TABLE} (name, paused, modified) VALUES (?, TRUE, ?) ON CONFLICT (name) DO NOTHING`,
      [name, now],
    );
    return result.affected > 0;
  }

  /** The queues with a row, and whether each is paused. */
  async queueStates(sql: Sql): Promise<Map<string, boolean>> {
    const result = await this.run<{ name: string; paused: unknown }>(
      sql,
      `SELECT name, paused FROM ${JOB_QUEUES_TABLE}`,
    );
    return new Map(
      result.rows.map((row) => [row.name, row.paused === true || Number(row.paused) === 1]),
    );
  }

  /** Stores a running job's progress (JSON text) while `owner` holds it by this claim; returns whether it held. */
  async setProgress(sql: Sql, owner: string, job: HeldJob, json: string): Promise<boolean> {
    const result = await this.run(
      sql,
      `UPDATE ${T} SET progress = ${this.jsonFromText('?')}
       WHERE id = ? AND attempts = ? AND locked_by = ? AND status = 'running'`,
      [json, job.id, job.attempts, owner],
    );
    return result.affected > 0;
  }

  /** Who holds each of these jobs now, by which claim (its attempts), and in which status (absent: deleted). */
  async holders(sql: Sql, ids: number[]): Promise<Map<number, JobHolder>> {
    const result = await this.run<{
      id: unknown;
      status: string;
      locked_by: string | null;
      attempts: unknown;
    }>(
      sql,
      `SELECT id, status, locked_by, attempts FROM ${T} WHERE id IN (${placeholders(ids.length)})`,
      ids,
    );
    return new Map(
      result.rows.map((row) => [
        Number(row.id),
        { status: row.status, lockedBy: row.locked_by, attempts: Number(row.attempts) },
      ]),
    );
  }

  /** Ids among the statement's rows whose `awaited` column is set. */
  /** Fills the report from rows with `id` and, where the statement returned them, `awaited` and `linked`. */
  protected static reportOf(rows: Array<Record<string, unknown>>, report?: FinishReport): void {
    if (!report) return;
    for (const row of rows) {
      if (row.awaited === true) report.awaited?.push(Number(row.id));
      if (row.linked === true || Number(row.linked) === 1) report.linked?.push(Number(row.id));
    }
  }

  async renew(sql: Sql, owner: string, ids: number[], until: number): Promise<number> {
    const result = await this.run(
      sql,
      `UPDATE ${T} SET locked_until = ? WHERE locked_by = ? AND status = 'running' AND id IN (${placeholders(ids.length)})`,
      [until, owner, ...ids],
    );
    return result.affected;
  }

  /** Gives jobs back unrun (shutdown), those still held by the same claim: due at once, the interrupted run not counted. */
  async release(
    sql: Sql,
    owner: string,
    jobs: HeldJob[],
    now: number,
    note: string,
  ): Promise<number> {
    const claims = claimsSql(jobs);
    const result = await this.run(
      sql,
      `UPDATE ${T} SET status = 'pending', locked_by = NULL, locked_until = NULL, run_at = ?,
         attempts = attempts - 1, logs = ${this.appendText('logs')}
       WHERE locked_by = ? AND status = 'running' AND (${claims.text})`,
      [now, note, owner, ...claims.params],
    );
    return result.affected;
  }

  /**
   * Jobs whose lease ran out (their instance died or lost the database): those with attempts left
   * become due again at once, the others fail for good. Returns how many were touched.
   */
  async reapExpired(sql: Sql, now: number, note: string): Promise<number> {
    return this.reapWhere(sql, `status = 'running' AND locked_until < ?`, [now], now, note);
  }

  /** The reaping UPDATE of `reapExpired`, on the rows `where` picks. */
  protected async reapWhere(
    sql: Sql,
    where: string,
    whereParams: unknown[],
    now: number,
    note: string,
  ): Promise<number> {
    // One statement (an idle instance's budget is one per poll). No assignment reads a column that
    // an earlier one changes, so MySQL's left-to-right SET gives the same result as the others.
    const dead = 'attempts >= max_attempts AND schedule IS NULL';
    const status = `CASE WHEN ${dead} THEN 'failed' ELSE 'pending' END`;
    const result = await this.run(
      sql,
      `UPDATE ${T} SET
         ${activeColumnsSql(status, 'active_key')},
         status = ${status},
         finished_at = CASE WHEN ${dead} THEN ${this.bigintParam()} ELSE NULL END,
         failed = TRUE, last_error = ?, logs = ${this.appendText('logs')}, locked_by = NULL, locked_until = NULL
       WHERE ${where}`,
      [now, note.trim(), note, ...whereParams],
    );
    return result.affected;
  }

  /**
   * Claimed rows in claim order (priority, run_at, id): an UPDATE ... RETURNING gives them in the
   * order it reached them, which is not that one.
   */
  protected static claimedJobs(rows: Array<Record<string, unknown>>): ClaimedJob[] {
    return JobsDialect.inClaimOrder(rows.map(JobsDialect.claimValues));
  }

  /**
   * The same from rows given as arrays of values, in `claimColumns` order (no object a row). The
   * rows usually come in claim order already (the due index's): they are sorted only when not.
   */
  protected static inClaimOrder(rows: unknown[][]): ClaimedJob[] {
    const jobs = rows.map((values) => JobsDialect.claimedJobOf(values));
    const priorities = rows.map((values) => Number(values[AT.priority]));
    const before = (a: number, b: number) =>
      priorities[a] - priorities[b] || jobs[a].runAt - jobs[b].runAt || jobs[a].id - jobs[b].id;
    let sorted = true;
    for (let i = 1; i < jobs.length && sorted; i++) sorted = before(i - 1, i) < 0;
    if (sorted) return jobs;
    return jobs
      .map((_, i) => i)
      .sort(before)
      .map((i) => jobs[i]);
  }

  protected static claimedJob(row: Record<string, unknown>, attemptsOffset = 0): ClaimedJob {
    return JobsDialect.claimedJobOf(JobsDialect.claimValues(row), attemptsOffset);
  }

  /** A claim's row as its values in `claimColumns` order. */
  private static claimValues(row: Record<string, unknown>): unknown[] {
    const values: unknown[] = CLAIM_COLUMNS.map((column) => row[column]);
    values.push(row.data);
    return values;
  }

  /** A claimed job from its row's values in `claimColumns` order. */
  protected static claimedJobOf(v: unknown[], attemptsOffset = 0): ClaimedJob {
    return {
      id: Number(v[AT.id]),
      kind: v[AT.kind] as string,
      queue: v[AT.queue] as string,
      data: v[AT.data] == null ? 'null' : String(v[AT.data]),
      attempts: Number(v[AT.attempts]) + attemptsOffset,
      maxAttempts: Number(v[AT.max_attempts]),
      periodic: Boolean(v[AT.periodic]),
      interval: v[AT.interval_ms] == null ? null : Number(v[AT.interval_ms]),
      uniqueKey: (v[AT.unique_key] as string | null) ?? null,
      schedule: (v[AT.schedule] as string | null) ?? null,
      runAt: Number(v[AT.run_at]),
      timeout: v[AT.timeout_ms] == null ? null : Number(v[AT.timeout_ms]),
      backoff: (v[AT.backoff] as string | null) ?? null,
      group: (v[AT.group_key] as string | null) ?? null,
      traceContext: (v[AT.trace_context] as string | null) ?? null,
    };
  }

  protected static readonly MAX_LOG_CHARS = MAX_LOG_CHARS;
}
