import { JOBS_TABLE } from '../../jobs.constants.js';
import { JobsDialect, claimColumns, linkedSql, type FinishReport } from './dialect.js';
import { placeholders, type Sql, type SqlResult } from '../sql.js';
import type { ClaimRequest, ClaimedJob, FinishShape, HeldJob, JobUpdate } from '../job-rows.js';

/**
 * SQLite: one writer at a time, so a single UPDATE ... RETURNING claims atomically. TypeORM drives
 * SQLite through one connection per data source; the statements of `databaseOf` run outside the
 * app's transactions (see SqliteOutsideTransactions), and a claim that would have to wait for one
 * to end skips its turn instead: the runner polls again.
 */
export class SqliteDialect extends JobsDialect {
  readonly name = 'sqlite';
  protected readonly limitedLocks = {
    kindLock: null,
    kindShareLock: null,
    rowLock: '',
    groupLock: '',
    dataAsText: 'data',
  };

  protected appendExpression(expression: string, value: string): string {
    return `substr(coalesce(${expression}, '') || ${value}, -${JobsDialect.MAX_LOG_CHARS})`;
  }

  /** better-sqlite3 binds no booleans: TypeORM 1.x turns them into 0/1 for it, TypeORM 0.3 does not. */
  override run<Row = Record<string, unknown>>(
    sql: Sql,
    statement: string,
    params?: unknown[],
  ): Promise<SqlResult<Row>> {
    return super.run<Row>(
      sql,
      statement,
      params?.map((value) => (typeof value === 'boolean' ? Number(value) : value)),
    );
  }

  async claim(sql: Sql, request: ClaimRequest): Promise<ClaimedJob[]> {
    const due = this.dueIds(request, request.limit);
    // Nothing may await between the check and the statement (see SqliteOutsideTransactions).
    if (sql.busy?.()) return [];
    const text = `UPDATE ${JOBS_TABLE} SET status = 'running', locked_by = ?, locked_until = ?, last_run = ?,
         attempts = attempts + 1
       WHERE id IN (${due.text})
       RETURNING ${claimColumns('data')}`;
    const params = [request.owner, request.leaseUntil, request.now, ...due.params];
    if (sql.arrays) return JobsDialect.inClaimOrder(await sql.arrays(text, params));
    return JobsDialect.claimedJobs((await this.run(sql, text, params)).rows);
  }

  /**
   * The unary `+` keeps SQLite from driving the join from the status index (every running job,
   * times the batch). Not on `attempts`: with `+attempts = v.v_held` SQLite 3.53 took 41 ms to
   * write 260 outcomes instead of 0.9 ms (a plan EXPLAIN QUERY PLAN does not show apart; measured).
   */
  async finish(
    sql: Sql,
    owner: string,
    updates: JobUpdate[],
    shape: FinishShape,
    report?: FinishReport,
  ): Promise<boolean[]> {
    const columns = JobsDialect.finishColumns(shape);
    const row = `(${placeholders(columns.length)})`;
    const result = await this.run(
      sql,
      `WITH v(${columns.join(', ')}) AS (VALUES ${new Array(updates.length).fill(row).join(', ')})
       UPDATE ${JOBS_TABLE} SET ${this.finishAssignments(shape)}
       FROM v WHERE id = v.v_id AND attempts = v.v_held AND +locked_by = ? AND +status = 'running'
       RETURNING id, ${linkedSql()} AS linked`,
      [...updates.flatMap((update) => JobsDialect.finishValues(update, shape)), owner],
    );
    JobsDialect.reportOf(result.rows, report);
    return JobsDialect.heldOf(updates, result.rows);
  }

  /** The row values of the claims read as lookups of the primary key (EXPLAIN QUERY PLAN). */
  async deleteHeld(sql: Sql, owner: string, jobs: HeldJob[]): Promise<boolean[]> {
    const result = await this.run(
      sql,
      `DELETE FROM ${JOBS_TABLE} WHERE +locked_by = ? AND +status = 'running'
         AND (id, attempts) IN (VALUES ${new Array(jobs.length).fill('(?, ?)').join(', ')})
         AND NOT ${linkedSql()} RETURNING id`,
      [owner, ...jobs.flatMap((job) => [job.id, job.attempts])],
    );
    return JobsDialect.heldOf(jobs, result.rows);
  }
}
