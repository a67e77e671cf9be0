import { JOBS_TABLE } from '../jobs.constants.js';
import { JobsDialect, claimColumns, insertValues } from './dialect.js';
import { WAKE_CHANNEL } from './postgres.wakeups.js';
import type { Sql } from './sql.js';
import type { ClaimRequest, ClaimedJob, JobUpdate, NewJobRow } from './job-rows.js';

/**
 * PostgreSQL: claims with UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING. Batches
 * travel as one array per column (unnest), so a statement's text and its parameter count do not
 * grow with the batch.
 */
export class PostgresDialect extends JobsDialect {
  readonly name = 'postgres';

  override prepare(statement: string): string {
    let n = 0;
    return statement.replace(/\?/g, () => `$${++n}`);
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
   * The statement, then a NOTIFY for listening runners (sent when the transaction commits), in one
   * round trip: an uncorrelated subquery in the filter runs once, whatever the number of rows.
   */
  private withWake(statement: string, params: unknown[], wake: string | null): [string, unknown[]] {
    if (wake === null) return [statement, params];
    return [
      `WITH inserted AS (${statement}) SELECT id FROM inserted
       WHERE (SELECT COUNT(*) FROM (SELECT pg_notify(?, ?)) wake) = 1`,
      [...params, WAKE_CHANNEL, wake],
    ];
  }

  override async wakeOthers(sql: Sql, wake: string): Promise<void> {
    await this.run(sql, 'SELECT pg_notify(?, ?)', [WAKE_CHANNEL, wake]);
  }

  override async insertUnlessDuplicate(
    sql: Sql,
    row: NewJobRow,
    wake: string | null = null,
  ): Promise<number | null> {
    const result = await this.run(
      sql,
      ...this.withWake(
        this.insertStatement(1, ' ON CONFLICT (active_key) DO NOTHING RETURNING id'),
        insertValues(row),
        wake,
      ),
    );
    return result.rows.length ? Number(result.rows[0].id) : null;
  }

  override async insertMany(
    sql: Sql,
    rows: NewJobRow[],
    wake: string | null = null,
  ): Promise<number[]> {
    const result = await this.run(
      sql,
      ...this.withWake(
        `INSERT INTO ${JOBS_TABLE} (kind, kind_id, queue, data, status, periodic, interval_ms, priority, run_at,
         max_attempts, created, unique_key, active_key, schedule)
       SELECT kind, kind_id, queue, data::json, 'pending', periodic, interval_ms, priority, run_at,
         max_attempts, created, NULL, NULL, schedule
       FROM unnest(?::text[], ?::int[], ?::text[], ?::text[], ?::bool[], ?::bigint[], ?::int[], ?::bigint[],
         ?::int[], ?::bigint[], ?::text[])
         AS r(kind, kind_id, queue, data, periodic, interval_ms, priority, run_at, max_attempts, created, schedule)
       RETURNING id`,
        [
          rows.map((row) => row.kind),
          rows.map((row) => row.kindId),
          rows.map((row) => row.queue),
          rows.map((row) => row.data),
          rows.map((row) => row.periodic),
          rows.map((row) => row.interval),
          rows.map((row) => row.priority),
          rows.map((row) => row.runAt),
          rows.map((row) => row.maxAttempts),
          rows.map((row) => row.created),
          rows.map((row) => row.schedule),
        ],
        wake,
      ),
    );
    return result.rows.map((row) => Number(row.id));
  }

  async claim(sql: Sql, request: ClaimRequest): Promise<ClaimedJob[]> {
    const { where, params } = this.claimFilter(request);
    const result = await this.run(
      sql,
      `UPDATE ${JOBS_TABLE} j SET status = 'running', locked_by = ?, locked_until = ?, last_run = ?,
         attempts = j.attempts + 1
       FROM (SELECT id FROM ${JOBS_TABLE} WHERE ${where} ${JobsDialect.CLAIM_ORDER}
             LIMIT ? FOR UPDATE SKIP LOCKED) due
       WHERE j.id = due.id
       RETURNING ${claimColumns('j.data::text', 'j.')}`,
      [request.owner, request.leaseUntil, request.now, ...params, request.limit],
    );
    return result.rows.map((row) => JobsDialect.claimedJob(row));
  }

  async finish(sql: Sql, owner: string, updates: JobUpdate[]): Promise<boolean[]> {
    const columns = updates.map(JobsDialect.finishValues);
    const result = await this.run(
      sql,
      `UPDATE ${JOBS_TABLE} j SET ${this.finishAssignments()}
       FROM unnest(?::int[], ?::text[], ?::bool[], ?::bigint[], ?::int[], ?::bigint[], ?::text[], ?::text[], ?::text[])
         AS v(${JobsDialect.FINISH_COLUMNS.join(', ')})
       WHERE j.id = v.v_id AND j.locked_by = ? AND j.status = 'running'
       RETURNING j.id`,
      [...JobsDialect.FINISH_COLUMNS.map((_, c) => columns.map((values) => values[c])), owner],
    );
    return JobsDialect.heldOf(
      updates,
      result.rows.map((row) => row.id),
    );
  }
}
