import { JOBS_TABLE, MAX_LOG_CHARS } from '../../jobs.constants.js';
import { activeColumnsSql } from '../../jobs.states.js';
import { placeholders, type Sql, type SqlResult } from '../sql.js';
import type { ClaimRequest, ClaimedJob, JobUpdate, NewJobRow } from '../job-rows.js';

const T = JOBS_TABLE;

/** The columns of an INSERT, in the order `insertValues` gives them. */
export const INSERT_COLUMNS =
  'kind, kind_id, queue, data, status, periodic, interval_ms, priority, run_at, max_attempts, created, unique_key, active_key, schedule, timeout_ms, backoff';
const INSERT_ROW = `(?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

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
  ];
}

/** The columns a claim returns (read by `claimedJob`), with the data as JSON text. */
export function claimColumns(dataAsText: string, prefix = ''): string {
  return [
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
  ]
    .map((column) => prefix + column)
    .concat(`${dataAsText} AS data`)
    .join(', ');
}

/**
 * SQL that differs between databases; everything else is written once, here. Every statement uses
 * `?` placeholders; a dialect rewrites them if its driver wants another form.
 */
export abstract class JobsDialect {
  abstract readonly name: 'postgres' | 'mysql' | 'sqlite';

  /** Inserts rows (none with a unique key) and returns their ids in order (INSERT ... RETURNING). */
  async insertMany(sql: Sql, rows: NewJobRow[]): Promise<number[]> {
    const result = await this.run(
      sql,
      this.insertStatement(rows.length, ' RETURNING id'),
      rows.flatMap(insertValues),
    );
    return result.rows.map((row) => Number(row.id));
  }

  /** Inserts a row with a unique key; null when an active job holds that key already. */
  async insertUnlessDuplicate(sql: Sql, row: NewJobRow): Promise<number | null> {
    const result = await this.run(
      sql,
      this.insertStatement(1, ' ON CONFLICT (active_key) DO NOTHING RETURNING id'),
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

  protected claimFilter(request: ClaimRequest): { where: string; params: unknown[] } {
    let where = `status = 'pending' AND run_at <= ? AND kind IN (${placeholders(request.kinds.length)})`;
    const params: unknown[] = [request.now, ...request.kinds];
    if (request.queues) {
      where += ` AND queue IN (${placeholders(request.queues.length)})`;
      params.push(...request.queues);
    }
    return { where, params };
  }

  protected static readonly CLAIM_ORDER = 'ORDER BY priority, run_at, id';

  /**
   * Writes the ends of several runs of one owner in one statement, each only while that owner still
   * holds the job. Returns, per update, whether it held.
   */
  abstract finish(sql: Sql, owner: string, updates: JobUpdate[]): Promise<boolean[]>;

  /**
   * Deletes succeeded jobs in place of writing their outcome (retention `succeeded: 0`), each only
   * while `owner` still holds it. Returns, per id, whether it held.
   */
  async deleteHeld(sql: Sql, owner: string, ids: number[]): Promise<boolean[]> {
    const result = await this.run(
      sql,
      `DELETE FROM ${T} WHERE locked_by = ? AND status = 'running' AND id IN (${placeholders(ids.length)}) RETURNING id`,
      [owner, ...ids],
    );
    return JobsDialect.heldOf(ids, result.rows);
  }

  /** The assignments of `finish`, reading the new values from the row source `v` (columns v_*). */
  protected finishAssignments(target = ''): string {
    return `${target}status = v.v_status, ${activeColumnsSql('v.v_status', `${target}active_key`, target)},
       ${target}failed = v.v_failed, ${target}run_at = v.v_run_at, ${target}attempts = v.v_attempts,
       ${target}finished_at = v.v_finished_at, ${target}last_error = v.v_last_error,
       ${target}result = ${this.jsonFromText('v.v_result')},
       ${target}logs = ${this.appendExpression(`${target}logs`, 'v.v_logs')},
       ${target}locked_by = NULL, ${target}locked_until = NULL`;
  }

  /** The column names of the row source of `finish`, in the order `finishValues` gives them. */
  protected static readonly FINISH_COLUMNS = [
    'v_id',
    'v_status',
    'v_failed',
    'v_run_at',
    'v_attempts',
    'v_finished_at',
    'v_last_error',
    'v_result',
    'v_logs',
  ];

  protected static finishValues(update: JobUpdate): unknown[] {
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
    ];
  }

  /** An expression turning JSON text into the column's JSON type. */
  protected jsonFromText(expression: string): string {
    return expression;
  }

  /** Per id, whether it came back in the statement's rows (their `id` column). */
  protected static heldOf(ids: number[], rows: Array<Record<string, unknown>>): boolean[] {
    const held = new Set(rows.map((row) => Number(row.id)));
    return ids.map((id) => held.has(id));
  }

  async renew(sql: Sql, owner: string, ids: number[], until: number): Promise<number> {
    const result = await this.run(
      sql,
      `UPDATE ${T} SET locked_until = ? WHERE locked_by = ? AND status = 'running' AND id IN (${placeholders(ids.length)})`,
      [until, owner, ...ids],
    );
    return result.affected;
  }

  /** Gives jobs back unrun (shutdown): due at once, the interrupted run not counted. */
  async release(
    sql: Sql,
    owner: string,
    ids: number[],
    now: number,
    note: string,
  ): Promise<number> {
    const result = await this.run(
      sql,
      `UPDATE ${T} SET status = 'pending', locked_by = NULL, locked_until = NULL, run_at = ?,
         attempts = attempts - 1, logs = ${this.appendText('logs')}
       WHERE locked_by = ? AND status = 'running' AND id IN (${placeholders(ids.length)})`,
      [now, note, owner, ...ids],
    );
    return result.affected;
  }

  /**
   * Jobs whose lease ran out (their instance died or lost the database): those with attempts left
   * become due again at once, the others fail for good. Returns how many were touched.
   */
  async reapExpired(sql: Sql, now: number, note: string): Promise<number> {
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
       WHERE status = 'running' AND locked_until < ?`,
      [now, note.trim(), note, now],
    );
    return result.affected;
  }

  /**
   * Claimed rows in claim order (priority, run_at, id): an UPDATE ... RETURNING gives them in the
   * order it reached them, which is not that one.
   */
  protected static claimedJobs(rows: Array<Record<string, unknown>>): ClaimedJob[] {
    return rows
      .map((row) => ({ job: JobsDialect.claimedJob(row), priority: Number(row.priority) }))
      .sort((a, b) => a.priority - b.priority || a.job.runAt - b.job.runAt || a.job.id - b.job.id)
      .map((entry) => entry.job);
  }

  protected static claimedJob(row: Record<string, unknown>, attemptsOffset = 0): ClaimedJob {
    return {
      id: Number(row.id),
      kind: row.kind as string,
      queue: row.queue as string,
      data: row.data == null ? 'null' : String(row.data),
      attempts: Number(row.attempts) + attemptsOffset,
      maxAttempts: Number(row.max_attempts),
      periodic: Boolean(row.periodic),
      interval: row.interval_ms == null ? null : Number(row.interval_ms),
      uniqueKey: (row.unique_key as string | null) ?? null,
      schedule: (row.schedule as string | null) ?? null,
      runAt: Number(row.run_at),
      timeout: row.timeout_ms == null ? null : Number(row.timeout_ms),
      backoff: (row.backoff as string | null) ?? null,
    };
  }

  protected static readonly MAX_LOG_CHARS = MAX_LOG_CHARS;
}
