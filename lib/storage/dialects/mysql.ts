import { anyOfRanges, priorityRanges, type PriorityRange } from '../due-ranges.js';
import {
  JOB_GROUPS_TABLE,
  JOB_PERMITS_TABLE,
  JOB_QUEUES_TABLE,
  JOBS_TABLE,
} from '../../jobs.constants.js';
import {
  JobsDialect,
  claimColumns,
  insertValues,
  linkedSql,
  type FinishReport,
} from './dialect.js';
import { placeholders, type Database, type Sql } from '../sql.js';
import { claimOf } from '../job-rows.js';
import type {
  ClaimRequest,
  ClaimedJob,
  FinishShape,
  HeldJob,
  JobUpdate,
  NewJobRow,
} from '../job-rows.js';
import type { FlowSql } from '../../flows/flow.steps.js';

/** Still held by the owner given as the next parameter. */
const HELD = `locked_by = ? AND status = 'running'`;

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
  protected readonly limitedLocks = {
    kindLock: 'FOR UPDATE',
    kindShareLock: 'LOCK IN SHARE MODE',
    rowLock: 'FOR UPDATE',
    groupLock: 'FOR UPDATE SKIP LOCKED',
    dataAsText: 'CAST(data AS CHAR)',
  };
  private increment: Promise<number> | undefined;
  private foundNothing = true;

  constructor(private readonly database: Database) {
    super();
  }

  protected appendExpression(expression: string, value: string): string {
    return `RIGHT(CONCAT(COALESCE(${expression}, ''), ${value}), ${JobsDialect.MAX_LOG_CHARS})`;
  }

  override async insertMany(sql: Sql, rows: NewJobRow[]): Promise<number[]> {
    const result = await this.run(
      sql,
      this.insertStatement(rows.length),
      rows.flatMap(insertValues),
    );
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
   * One OR of the due index's ranges (see due-ranges.ts): MariaDB's range optimizer reads them in
   * index order, so the claim's ORDER BY needs no sort and ends at the first job not yet due.
   */
  protected override claimFilter(
    request: Pick<ClaimRequest, 'now' | 'kinds' | 'queues' | 'priorities'>,
    range?: PriorityRange,
  ): { where: string; params: unknown[] } {
    return super.claimFilter(
      request,
      range ?? anyOfRanges(priorityRanges(request.priorities), request.now),
    );
  }

  override dueIds(
    request: Pick<ClaimRequest, 'now' | 'kinds' | 'queues' | 'priorities'>,
    limit: number,
    lock = '',
  ): { text: string; params: unknown[] } {
    const { where, params } = this.claimFilter(request);
    return {
      text: `SELECT id FROM ${JOBS_TABLE} WHERE ${where} ${JobsDialect.CLAIM_ORDER} LIMIT ?${lock}`,
      params: [...params, limit],
    };
  }

  /**
   * After a claim that found nothing, the next one first looks without locking (one statement),
   * so an idle instance does not open a transaction on every poll.
   */
  async claim(sql: Sql, request: ClaimRequest): Promise<ClaimedJob[]> {
    if (this.foundNothing) {
      const probe = this.dueIds(request, 1);
      if ((await sql(probe.text, probe.params)).rows.length === 0) return [];
    }
    const { where, params } = this.claimFilter(request);
    const jobs = await this.lockAndClaim(request, where, params);
    this.foundNothing = jobs.length === 0;
    return jobs;
  }

  private lockAndClaim(
    request: ClaimRequest,
    where: string,
    params: unknown[],
  ): Promise<ClaimedJob[]> {
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
   * several go through `onHeldRows` and one UPDATE ... JOIN of those still ours.
   */
  async finish(
    sql: Sql,
    owner: string,
    updates: JobUpdate[],
    shape: FinishShape,
    report?: FinishReport,
  ): Promise<boolean[]> {
    // One unlinked job: one statement. A linked one (or a lease lost) is written again below, where
    // the locked read says which held and which are linked (no RETURNING on MariaDB's UPDATE).
    if (updates.length === 1 && (await this.finishHeld(sql, owner, updates, shape, true)) > 0)
      return [true];
    const jobs = updates.map(claimOf);
    return this.onHeldRows(
      sql,
      owner,
      jobs,
      (sql, held) =>
        this.finishHeld(
          sql,
          owner,
          updates.filter((_, i) => held[i]),
          shape,
        ),
      report,
    );
  }

  /**
   * Skips rows another transaction holds locked (an instance stalled inside its outcome's or a
   * `job.transaction()`'s transaction must not hold up reaping everyone else's jobs): the expired
   * rows free now are read first, then reaped by id; no expired row, one statement.
   */
  override async reapExpired(sql: Sql, now: number, note: string): Promise<number> {
    const free = await sql(
      `SELECT id FROM ${JOBS_TABLE} WHERE status = 'running' AND locked_until < ?
       ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED`,
      [now],
    );
    if (free.rows.length === 0) return 0;
    const ids = free.rows.map((row) => Number(row.id));
    return this.reapWhere(
      sql,
      `id IN (${placeholders(ids.length)}) AND status = 'running' AND locked_until < ?`,
      [...ids, now],
      now,
      note,
    );
  }

  /** As `finish`: one job is one statement; several go through `onHeldRows`. */
  override async deleteHeld(sql: Sql, owner: string, jobs: HeldJob[]): Promise<boolean[]> {
    const unlinked = `AND NOT ${linkedSql()}`;
    if (jobs.length === 1) {
      const result = await this.run(
        sql,
        `DELETE FROM ${JOBS_TABLE} WHERE id = ? AND attempts = ? AND ${HELD} ${unlinked}`,
        [jobs[0].id, jobs[0].attempts, owner],
      );
      return [result.affected > 0];
    }
    return this.onHeldRows(
      sql,
      owner,
      jobs,
      (sql, held) => {
        const ours = jobs.filter((_, i) => held[i]).map((job) => job.id);
        return sql(`DELETE FROM ${JOBS_TABLE} WHERE id IN (${placeholders(ours.length)})`, ours);
      },
      undefined,
      unlinked,
    );
  }

  /**
   * In one transaction: locks the rows of `jobs` that `owner` still holds by the same claim, and,
   * if any, runs `work` on them (nobody can take them meanwhile). Returns, per job, whether it was
   * held. Given the statements of a caller's transaction (`job.transaction()`), in that one: a
   * transaction of its own would wait for the row locks the caller's holds, and the caller for it.
   */
  private onHeldRows(
    given: Sql,
    owner: string,
    jobs: HeldJob[],
    work: (sql: Sql, held: boolean[]) => Promise<unknown>,
    report?: FinishReport,
    condition = '',
  ): Promise<boolean[]> {
    const inCallers = given !== this.database.sql;
    const locked = async (sql: Sql) => {
      const rows = await sql<{ id: unknown; attempts: unknown; linked: unknown }>(
        `SELECT id, attempts, ${linkedSql()} AS linked FROM ${JOBS_TABLE}
         WHERE id IN (${placeholders(jobs.length)}) AND ${HELD} ${condition} FOR UPDATE`,
        [...jobs.map((job) => job.id), owner],
      );
      const claims = new Map(jobs.map((job) => [job.id, job.attempts]));
      const ours = rows.rows.filter((row) => claims.get(Number(row.id)) === Number(row.attempts));
      JobsDialect.reportOf(ours, report);
      const held = JobsDialect.heldOf(jobs, ours);
      if (held.some(Boolean)) await work(sql, held);
      return held;
    };
    return inCallers ? locked(given) : this.database.transaction(locked);
  }

  private async finishHeld(
    sql: Sql,
    owner: string,
    updates: JobUpdate[],
    shape: FinishShape,
    unlinkedOnly = false,
  ): Promise<number> {
    const columns = JobsDialect.finishColumns(shape);
    const named = `SELECT ${columns.map((column) => `? AS ${column}`).join(', ')}`;
    const unnamed = `SELECT ${placeholders(columns.length)}`;
    const source = [named, ...new Array(updates.length - 1).fill(unnamed)].join(' UNION ALL ');
    const result = await this.run(
      sql,
      `UPDATE ${JOBS_TABLE} j JOIN (${source}) v ON j.id = v.v_id SET ${this.finishAssignments(shape, 'j.')}
       WHERE j.attempts = v.v_held AND j.locked_by = ? AND j.status = 'running'${unlinkedOnly ? ` AND NOT ${linkedSql('j.')}` : ''}`,
      [...updates.flatMap((update) => JobsDialect.finishValues(update, shape)), owner],
    );
    return result.affected;
  }

  protected override async insertQueueUnlessPresent(
    sql: Sql,
    name: string,
    now: number,
  ): Promise<boolean> {
    const result = await this.run(
      sql,
      `INSERT IGNORE INTO ${JOB_QUEUES_TABLE} (name, paused, modified) VALUES (?, TRUE, ?)`,
      [name, now],
    );
    return result.affected > 0;
  }

  protected override upsertPermits(count: number): string {
    return `INSERT INTO ${JOB_PERMITS_TABLE} (kind, owner, permits, held_until) VALUES ${new Array(count).fill('(?, ?, ?, ?)').join(', ')}
      ON DUPLICATE KEY UPDATE permits = VALUES(permits), held_until = VALUES(held_until)`;
  }

  protected override insertGroups(count: number): string {
    return `INSERT IGNORE INTO ${JOB_GROUPS_TABLE} (kind, group_key, last_start) VALUES ${new Array(count).fill('(?, ?, ?)').join(', ')}`;
  }

  protected override upsertServed(count: number): string {
    return `INSERT INTO ${JOB_GROUPS_TABLE} (kind, group_key, last_start) VALUES ${new Array(count).fill('(?, ?, ?)').join(', ')}
      ON DUPLICATE KEY UPDATE last_start = VALUES(last_start)`;
  }

  /** No RETURNING on MariaDB's INSERT ... VALUES of many rows: the ids follow the first, a step apart. */
  override async flowSql(): Promise<FlowSql> {
    const step = await this.autoIncrementStep();
    return {
      ...(await super.flowSql()),
      returningId: '',
      idsOf: (result, count) => {
        const first = Number((result.raw as InsertHeader).insertId);
        return Array.from({ length: count }, (_, i) => first + i * step);
      },
    };
  }

  private autoIncrementStep(): Promise<number> {
    this.increment ??= this.database
      .sql<{ step: number | string }>('SELECT @@auto_increment_increment AS step')
      .then((result) => Number(result.rows[0]?.step ?? 1));
    return this.increment;
  }
}
