import { JOBS_TABLE } from '../jobs.constants.js';
import { JobsDialect, claimColumns, insertValues } from './dialect.js';
import { placeholders, type Database, type Sql } from './sql.js';
import type { ClaimRequest, ClaimedJob, JobUpdate, NewJobRow } from './job-rows.js';

interface InsertHeader {
  insertId: number | string;
  affectedRows: number;
}

/**
 * MySQL and MariaDB: no UPDATE ... RETURNING, so a claim is SELECT ... FOR UPDATE SKIP LOCKED and
 * an UPDATE of those ids in one transaction. Multi-row inserts get consecutive ids (InnoDB gives a
 * "simple insert" one block), spaced by auto_increment_increment.
 */
export class MysqlDialect extends JobsDialect {
  readonly name = 'mysql';
  private increment: Promise<number> | undefined;
  private foundNothing = true;

  constructor(private readonly database: Database) {
    super();
  }

  protected appendExpression(expression: string, value: string): string {
    return `RIGHT(CONCAT(COALESCE(${expression}, ''), ${value}), ${JobsDialect.MAX_LOG_CHARS})`;
  }

  override async insertMany(sql: Sql, rows: NewJobRow[]): Promise<number[]> {
    const result = await this.run(sql, this.insertStatement(rows.length), rows.flatMap(insertValues));
    const first = Number((result.raw as InsertHeader).insertId);
    const step = await this.autoIncrementStep();
    return rows.map((_, i) => first + i * step);
  }

  override async insertUnlessDuplicate(sql: Sql, row: NewJobRow): Promise<number | null> {
    const statement = this.insertStatement(1).replace(/^INSERT INTO/, 'INSERT IGNORE INTO');
    const result = await this.run(sql, statement, insertValues(row));
    const header = result.raw as InsertHeader;
    return header.affectedRows > 0 ? Number(header.insertId) : null;
  }

  /**
   * After a claim that found nothing, the next one first looks without locking (one statement),
   * so an idle instance does not open a transaction on every poll.
   */
  async claim(sql: Sql, request: ClaimRequest): Promise<ClaimedJob[]> {
    const { where, params } = this.claimFilter(request);
    if (this.foundNothing) {
      const probe = await sql(`SELECT id FROM ${JOBS_TABLE} WHERE ${where} LIMIT 1`, params);
      if (probe.rows.length === 0) return [];
    }
    const jobs = await this.lockAndClaim(request, where, params);
    this.foundNothing = jobs.length === 0;
    return jobs;
  }

  private lockAndClaim(request: ClaimRequest, where: string, params: unknown[]): Promise<ClaimedJob[]> {
    return this.database.transaction(async (sql) => {
      const due = await sql(
        `SELECT ${claimColumns('CAST(data AS CHAR)')} FROM ${JOBS_TABLE} WHERE ${where}
         ${JobsDialect.CLAIM_ORDER} LIMIT ? FOR UPDATE SKIP LOCKED`,
        [...params, request.limit],
      );
      if (due.rows.length === 0) return [];
      const ids = due.rows.map((row) => row.id);
      await sql(
        `UPDATE ${JOBS_TABLE} SET status = 'running', locked_by = ?, locked_until = ?, last_run = ?,
           attempts = attempts + 1
         WHERE id IN (${placeholders(ids.length)})`,
        [request.owner, request.leaseUntil, request.now, ...ids],
      );
      return due.rows.map((row) => JobsDialect.claimedJob(row, 1));
    });
  }

  /**
   * No RETURNING to say which updates held: one update is one statement (its affected count says),
   * several are a transaction that locks the rows still ours, then one UPDATE ... JOIN of the batch.
   */
  async finish(sql: Sql, owner: string, updates: JobUpdate[]): Promise<boolean[]> {
    if (updates.length === 1) return [(await this.finishHeld(sql, owner, updates)) > 0];
    return this.database.transaction(async (sql) => {
      const ids = updates.map((update) => update.id);
      const ours = await sql(
        `SELECT id FROM ${JOBS_TABLE} WHERE id IN (${placeholders(ids.length)}) AND locked_by = ? AND status = 'running'
         FOR UPDATE`,
        [...ids, owner],
      );
      const held = JobsDialect.heldOf(updates, ours.rows.map((row) => row.id));
      const writable = updates.filter((_, i) => held[i]);
      if (writable.length > 0) await this.finishHeld(sql, owner, writable);
      return held;
    });
  }

  /** As `finish`: one id is one statement; several lock the rows still ours, then delete those. */
  override async deleteHeld(sql: Sql, owner: string, ids: number[]): Promise<boolean[]> {
    const guard = `locked_by = ? AND status = 'running'`;
    if (ids.length === 1) {
      const result = await this.run(sql, `DELETE FROM ${JOBS_TABLE} WHERE id = ? AND ${guard}`, [ids[0], owner]);
      return [result.affected > 0];
    }
    return this.database.transaction(async (sql) => {
      const ours = await sql(
        `SELECT id FROM ${JOBS_TABLE} WHERE id IN (${placeholders(ids.length)}) AND ${guard} FOR UPDATE`,
        [...ids, owner],
      );
      const held = new Set(ours.rows.map((row) => Number(row.id)));
      if (held.size > 0) {
        await sql(`DELETE FROM ${JOBS_TABLE} WHERE id IN (${placeholders(held.size)})`, [...held]);
      }
      return ids.map((id) => held.has(id));
    });
  }

  private async finishHeld(sql: Sql, owner: string, updates: JobUpdate[]): Promise<number> {
    const [first, ...rest] = JobsDialect.FINISH_COLUMNS;
    const named = `SELECT ? AS ${first}, ${rest.map((column) => `? AS ${column}`).join(', ')}`;
    const unnamed = `SELECT ${placeholders(JobsDialect.FINISH_COLUMNS.length)}`;
    const source = [named, ...new Array(updates.length - 1).fill(unnamed)].join(' UNION ALL ');
    const result = await this.run(
      sql,
      `UPDATE ${JOBS_TABLE} j JOIN (${source}) v ON j.id = v.v_id SET ${this.finishAssignments('j.')}
       WHERE j.locked_by = ? AND j.status = 'running'`,
      [...updates.flatMap(JobsDialect.finishValues), owner],
    );
    return result.affected;
  }

  private autoIncrementStep(): Promise<number> {
    this.increment ??= this.database
      .sql<{ step: number | string }>('SELECT @@auto_increment_increment AS step')
      .then((result) => Number(result.rows[0]?.step ?? 1));
    return this.increment;
  }
}
