import { createHash } from 'node:crypto';
import { JOBS_TABLE } from '../../jobs.constants.js';
import { JobsDialect, claimColumns, linkedSql, type FinishReport, type Notify } from './dialect.js';
import type { Sql, SqlResult } from '../sql.js';
import type {
  ClaimRequest,
  ClaimedJob,
  FinishShape,
  HeldJob,
  JobUpdate,
  NewJobRow,
} from '../job-rows.js';

/**
 * The rows of an insert travel as one JSON document (json_to_recordset): one parameter whatever
 * the batch. Constants: a single enqueue is this one statement (see `preparedOf`).
 */
const INSERT_JSON = `INSERT INTO ${JOBS_TABLE} (kind, kind_id, queue, data, status, periodic, interval_ms, priority, run_at,
           max_attempts, created, schedule, timeout_ms, backoff, group_key, trace_context)
         SELECT kind, kind_id, queue, data::json, 'pending', periodic, interval_ms, priority, run_at, max_attempts,
           created, schedule, timeout_ms, backoff, group_key, trace_context
         FROM json_to_recordset(?::json) AS r(kind text, kind_id int, queue text, data text, periodic boolean,
           interval_ms bigint, priority int, run_at bigint, max_attempts int, created bigint, schedule text,
           timeout_ms int, backoff text, group_key text, trace_context text)
         RETURNING id`;

/** The same insert with the wake-up NOTIFY it carries (see `insertMany`). */
const INSERT_NOTIFYING = `WITH j AS (${INSERT_JSON}) SELECT j.id FROM j CROSS JOIN (SELECT pg_notify(?, ?)) n ORDER BY j.id`;

/**
 * PostgreSQL: claims with UPDATE ... WHERE id = ANY(ARRAY(SELECT ... FOR UPDATE SKIP LOCKED))
 * RETURNING: the locked ids are computed once and the rows reached through the primary key (a join
 * on the subquery let the planner hash-join a scan of the whole table: 7.9 ms against 3.7 ms for a
 * 400-job claim on 40,000 rows). Outcomes travel as one array per column (unnest), so the
 * statement's text and parameter count do not grow with the batch.
 */
export class PostgresDialect extends JobsDialect {
  readonly name = 'postgres';
  protected readonly limitedLocks = {
    kindLock: 'FOR NO KEY UPDATE',
    kindShareLock: 'FOR SHARE',
    rowLock: 'FOR UPDATE',
    groupLock: 'FOR NO KEY UPDATE SKIP LOCKED',
    dataAsText: 'data::text',
  };

  override prepare(statement: string): string {
    let n = 0;
    return statement.replace(/\?/g, () => `$${++n}`);
  }

  private readonly statements = new Map<string, { name: string; text: string }>();

  /**
   * The claim and the batch insert, as named prepared statements when outside a transaction (see
   * `Sql.prepared`). Only statements whose text does not grow with a batch come here, so each
   * connection prepares a handful of them.
   */
  private runPrepared<Row = Record<string, unknown>>(
    sql: Sql,
    statement: string,
    params: unknown[],
  ): Promise<SqlResult<Row>> {
    if (!sql.prepared) return this.run<Row>(sql, statement, params);
    const { name, text } = this.preparedOf(statement);
    return sql.prepared<Row>(name, text, params);
  }

  /**
   * A prepared statement's name (its text's hash) and its text with numbered placeholders, made
   * once per statement. Give it the same string each time where it can (the inserts' texts are
   * constants): a string's hash is computed once, and a single enqueue is one statement.
   */
  private preparedOf(statement: string): { name: string; text: string } {
    let prepared = this.statements.get(statement);
    if (prepared === undefined) {
      const name = `nest_jobs_${createHash('sha1').update(statement).digest('hex').slice(0, 16)}`;
      prepared = { name, text: this.prepare(statement) };
      this.statements.set(statement, prepared);
    }
    return prepared;
  }

  protected override bigintParam(): string {
    return '?::bigint';
  }

  protected appendExpression(expression: string, value: string): string {
    return `right(coalesce(${expression}, '') || ${value}, ${JobsDialect.MAX_LOG_CHARS})`;
  }

  protected override jsonFromText(expression: string): string {
    return `${expression}::json`;
  }

  /**
   * The rows travel as one JSON document (json_to_recordset): one parameter whatever the batch,
   * serialized by the engine's JSON.stringify instead of the driver escaping one array item at a time.
   */
  override async insertMany(
    sql: Sql,
    rows: NewJobRow[],
    notify?: Notify | null,
  ): Promise<number[]> {
    const json = `[${rows.map(PostgresDialect.rowJson).join(',')}]`;
    // The wake-up rides on the INSERT: the other instances hear of the jobs when it commits, one
    // round trip sooner than by a NOTIFY sent after it (see Wakeups.carry). The ids come in the
    // rows' order: a statement's serial ids rise in the order it inserts its rows.
    const result = notify
      ? await this.runPrepared(sql, INSERT_NOTIFYING, [json, notify.channel, notify.payload])
      : await this.runPrepared(sql, INSERT_JSON, [json]);
    return result.rows.map((row) => Number(row.id));
  }

  private static rowJson(row: NewJobRow): string {
    return (
      `{"kind":${JSON.stringify(row.kind)},"kind_id":${row.kindId},"queue":${JSON.stringify(row.queue)},` +
      `"data":${JSON.stringify(row.data)},"periodic":${row.periodic},"interval_ms":${row.interval},` +
      `"priority":${row.priority},"run_at":${row.runAt},"max_attempts":${row.maxAttempts},` +
      `"created":${row.created},"schedule":${JSON.stringify(row.schedule)},` +
      `"timeout_ms":${row.timeout ?? null},"backoff":${JSON.stringify(row.backoff ?? null)},` +
      `"group_key":${JSON.stringify(row.group ?? null)},` +
      `"trace_context":${JSON.stringify(row.traceContext ?? null)}}`
    );
  }

  async claim(sql: Sql, request: ClaimRequest): Promise<ClaimedJob[]> {
    const due = this.dueIds(request, request.limit, ' FOR UPDATE SKIP LOCKED');
    // The setting is local to the statement's own transaction, so only where it has one of its own
    // (a prepared statement on a pooled connection, outside any transaction): an initPlan, run once.
    const asyncCommit =
      request.asyncCommit && sql.prepared
        ? ` AND (SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL`
        : '';
    const text = `UPDATE ${JOBS_TABLE} j SET status = 'running', locked_by = ?, locked_until = ?, last_run = ?,
         attempts = j.attempts + 1
       WHERE j.id = ANY(ARRAY(${due.text}))${asyncCommit}
       RETURNING ${claimColumns('j.data::text', 'j.')}`;
    // Each range of the due index bounds status, priority and run_at: PostgreSQL plans it as an
    // index scan in claim order even on a table without column statistics (see due-ranges.ts).
    const params = [request.owner, request.leaseUntil, request.now, ...due.params];
    if (!sql.prepared) return JobsDialect.claimedJobs((await this.run(sql, text, params)).rows);
    const prepared = this.preparedOf(text);
    const result = await sql.prepared<unknown[]>(prepared.name, prepared.text, params, {
      arrays: true,
    });
    return JobsDialect.inClaimOrder(result.rows);
  }

  /**
   * Skips rows another transaction holds locked: an instance stalled between its outcome's UPDATE
   * and its COMMIT (or inside a `job.transaction()`) must not hold up reaping everyone else's jobs.
   */
  override reapExpired(sql: Sql, now: number, note: string): Promise<number> {
    return this.reapWhere(
      sql,
      `id IN (SELECT id FROM ${JOBS_TABLE} WHERE status = 'running' AND locked_until < ?
         FOR UPDATE SKIP LOCKED) AND status = 'running'`,
      [now],
      now,
      note,
    );
  }

  override async deleteHeld(
    sql: Sql,
    owner: string,
    jobs: HeldJob[],
    report?: FinishReport,
  ): Promise<boolean[]> {
    const result = await this.run(
      sql,
      `DELETE FROM ${JOBS_TABLE} j USING unnest(?::int[], ?::int[]) AS v(v_id, v_held)
       WHERE j.id = v.v_id AND j.attempts = v.v_held AND j.locked_by = ? AND j.status = 'running'
         AND NOT ${linkedSql('j.')} RETURNING j.id, j.awaited`,
      [arrayLiteral(jobs, (job) => job.id), arrayLiteral(jobs, (job) => job.attempts), owner],
    );
    JobsDialect.reportOf(result.rows, report);
    return JobsDialect.heldOf(jobs, result.rows);
  }

  /**
   * Not prepared: a generic plan of this join (the planner cannot see the batch's size) measured 5x
   * slower than the custom one on a table with many dead row versions, as a busy queue has.
   */
  async finish(
    sql: Sql,
    owner: string,
    updates: JobUpdate[],
    shape: FinishShape,
    report?: FinishReport,
  ): Promise<boolean[]> {
    const source = JobsDialect.FINISH_COLUMNS[shape];
    const rows = updates.map((update) => JobsDialect.finishValues(update, shape));
    const columns = source.map((_, c) => arrayLiteral(rows, (values) => values[c]));
    const result = await this.run(
      sql,
      `UPDATE ${JOBS_TABLE} j SET ${this.finishAssignments(shape)}
       FROM unnest(${source.map(([, type]) => `?::${type}[]`).join(', ')})
         AS v(${source.map(([name]) => name).join(', ')})
       WHERE j.id = v.v_id AND j.attempts = v.v_held AND j.locked_by = ? AND j.status = 'running'
       RETURNING j.id, j.awaited, ${linkedSql('j.')} AS linked`,
      [...columns, owner],
    );
    JobsDialect.reportOf(result.rows, report);
    return JobsDialect.heldOf(updates, result.rows);
  }
}

/**
 * The PostgreSQL array literal (`{1,NULL,"text"}`) of one value of each item: numbers (integers
 * here), booleans, strings and nulls. node-postgres makes the same text from a JS array, but
 * escapes every element, numbers included, through its generic value conversion: ~1 µs a job of the
 * worker's CPU across the finish's arrays (CPU profile of the c10 bench).
 */
function arrayLiteral<T>(items: readonly T[], value: (item: T) => unknown): string {
  const elements = new Array<string>(items.length);
  for (let i = 0; i < items.length; i++) {
    const element = value(items[i]);
    if (element === null || element === undefined) elements[i] = 'NULL';
    else if (typeof element === 'number') elements[i] = String(element);
    else if (typeof element === 'boolean') elements[i] = element ? 't' : 'f';
    else elements[i] = `"${String(element).replace(/[\\"]/g, '\\$&')}"`;
  }
  return `{${elements.join(',')}}`;
}
