import { JOBS_TABLE } from '../jobs.constants.js';
import { JobsDialect, claimColumns, insertValues } from './dialect.js';
import type { Sql } from './sql.js';
import type { ClaimRequest, ClaimedJob, NewJobRow } from './job-rows.js';

/**
 * SQLite: one writer at a time, so a single UPDATE ... RETURNING claims atomically. TypeORM drives
 * SQLite through one connection per data source, so a claim issued while the app has a transaction
 * open would join that transaction (and could run a job that is then rolled back): claims wait.
 */
export class SqliteDialect extends JobsDialect {
  readonly name = 'sqlite';

  constructor(private readonly connection: { queryRunner?: { isTransactionActive: boolean } }) {
    super();
  }

  protected appendText(expression: string): string {
    return `substr(coalesce(${expression}, '') || ?, -${JobsDialect.MAX_LOG_CHARS})`;
  }

  async insertMany(sql: Sql, rows: NewJobRow[]): Promise<number[]> {
    const result = await this.run(sql, this.insertStatement(rows.length, ' RETURNING id'), rows.flatMap(insertValues));
    return result.rows.map((row) => Number(row.id));
  }

  async insertUnlessDuplicate(sql: Sql, row: NewJobRow): Promise<number | null> {
    const result = await this.run(
      sql,
      this.insertStatement(1, ' ON CONFLICT (active_key) DO NOTHING RETURNING id'),
      insertValues(row),
    );
    return result.rows.length ? Number(result.rows[0].id) : null;
  }

  async claim(sql: Sql, request: ClaimRequest): Promise<ClaimedJob[]> {
    if (this.connection.queryRunner?.isTransactionActive) return [];
    const { where, params } = this.claimFilter(request);
    const result = await this.run(
      sql,
      `UPDATE ${JOBS_TABLE} SET status = 'running', locked_by = ?, locked_until = ?, last_run = ?,
         attempts = attempts + 1
       WHERE id IN (SELECT id FROM ${JOBS_TABLE} WHERE ${where} ${JobsDialect.CLAIM_ORDER} LIMIT ?)
       RETURNING ${claimColumns('data')}`,
      [request.owner, request.leaseUntil, request.now, ...params, request.limit],
    );
    return result.rows.map((row) => JobsDialect.claimedJob(row));
  }
}
