import { JOBS_TABLE } from '../jobs.constants.js';
import { JobsDialect, claimColumns } from './dialect.js';
import type { Sql } from './sql.js';
import type { ClaimRequest, ClaimedJob } from './job-rows.js';

/** PostgreSQL: claims with UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING. */
export class PostgresDialect extends JobsDialect {
  readonly name = 'postgres';

  override prepare(statement: string): string {
    let n = 0;
    return statement.replace(/\?/g, () => `$${++n}`);
  }

  protected override bigintParam(): string {
    return '?::bigint';
  }

  protected appendText(expression: string): string {
    return `right(coalesce(${expression}, '') || ?, ${JobsDialect.MAX_LOG_CHARS})`;
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
}
