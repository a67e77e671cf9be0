import { Brackets, In, Not, type DataSource, type EntityManager, type Repository } from 'typeorm';
import { JobEntity } from '../entities/job.entity.js';
import { JobKindEntity } from '../entities/job-kind.entity.js';
import {
  JOB_BATCHES_TABLE,
  JOB_DEPS_TABLE,
  JOB_PERMITS_TABLE,
  JOBS_TABLE,
} from '../jobs.constants.js';
import { messages } from '../jobs.messages.js';
import type { JobDependency, JobStatus } from '../interfaces/job-context.interface.js';
import { createDialect, type JobsDialect } from './dialects/index.js';
import type { FinishReport, JobHolder, Notify } from './dialects/dialect.js';
import { activeColumns, statusesFor } from '../jobs.states.js';
import { retryTransient } from './transient.js';
import { databaseOf, placeholders, sqlOf, type Database, type Sql } from './sql.js';
import { claimOf, finishShapeOf, type FinishShape } from './job-rows.js';
import type { ClaimRequest, ClaimedJob, HeldJob, JobUpdate, NewJobRow } from './job-rows.js';
import { finishChunks, insertChunks } from './statement-chunks.js';
import type { KindLimits } from '../limits/kind-limits.js';
import {
  limitedClaim,
  scanCandidates,
  type Candidate,
  type CandidateScanRequest,
  type LimitedClaimRequest,
  type LimitedClaimResult,
} from '../limits/limited-claim.js';
import { runSteps, runStepsNow } from './statement-steps.js';
import { acquirePermits, type PermitRequest } from '../limits/kind-permits.js';
import {
  batchCounts,
  cancelPending,
  insertBatch,
  insertDependents,
  insertFlow,
  pendingDescendants,
  settle,
  sweep,
  type DependentJob,
  type FlowNode,
  type FlowSql,
  type Settled,
} from '../flows/flow.steps.js';
import { SQLITE_TRANSACTION_WAIT_MS } from './sqlite.outside.js';
import { SqliteTransactionOpenError } from '../errors/jobs.errors.js';
import type { StatementSteps } from './statement-steps.js';

/** The shapes of finish statements, plain successes first (see FinishShape). */
const FINISH_SHAPES: readonly FinishShape[] = ['success', 'any'];

/** Whether any dependency or batch is still open: the sweep's first look (one statement). */
const OPEN_FLOWS = `SELECT
  (SELECT COUNT(*) FROM (SELECT 1 AS x FROM ${JOB_DEPS_TABLE} WHERE resolved = FALSE OR dependent_done = FALSE LIMIT 1) d) +
  (SELECT COUNT(*) FROM (SELECT 1 AS x FROM ${JOB_BATCHES_TABLE} WHERE finished_at IS NULL LIMIT 1) b) AS n`;

/**
 * Every write of jobs and kinds (reads: job.queries.ts, kind.queries.ts). The runner's hot path
 * (claim, finish, renew) goes through the dialect's hand-written SQL; the rest uses TypeORM's
 * repositories. Knows nothing of Nest.
 */
export class JobStore {
  readonly dialect: JobsDialect;
  private readonly database: Database;
  private readonly jobs: Repository<JobEntity>;
  private readonly kindRows: Repository<JobKindEntity>;
  /** Kind name -> id, for kinds known to exist (they are never renamed). */
  private readonly kindIds = new Map<string, number>();
  /** Kinds this instance inserted in a transaction (gone if it rolled back) until a read confirms them. */
  private readonly kindsInDoubt = new Set<string>();

  constructor(private readonly dataSource: DataSource) {
    this.database = databaseOf(dataSource);
    this.dialect = createDialect(dataSource, this.database);
    // On SQLite this manager keeps the repositories' writes out of the app's transactions.
    this.jobs = this.database.manager.getRepository(JobEntity);
    this.kindRows = this.database.manager.getRepository(JobKindEntity);
  }

  /** A manager without a query runner (the data source's own) holds no transaction to join. */
  private sql(manager?: EntityManager): Sql {
    return manager?.queryRunner ? sqlOf(manager) : this.database.sql;
  }

  /**
   * Records kinds this instance handles or its code declares; existing rows keep their id and
   * creation time. Given the manager of an open transaction, the rows commit or vanish with it.
   */
  async upsertKinds(names: string[], manager?: EntityManager): Promise<void> {
    if (names.length === 0) return;
    const repository = manager ? manager.getRepository(JobKindEntity) : this.kindRows;
    const now = new Date();
    const insert = () =>
      repository
        .createQueryBuilder()
        .insert()
        .values(names.map((name) => ({ name, created: now, modified: now })))
        .orIgnore()
        .execute();
    // Instances starting at once can deadlock on MariaDB's INSERT IGNORE (seen in CI): tried again,
    // unless it is part of the caller's transaction (which the deadlock rolled back).
    await this.ownRetry(manager, insert);
    for (const row of await repository.findBy({ name: In(names) })) {
      if (!inOpenTransaction(manager)) this.rememberKind(row);
      else if (!this.kindIds.has(row.name)) this.kindsInDoubt.add(row.name);
    }
  }

  private rememberKind(row: JobKindEntity): void {
    this.kindIds.set(row.name, row.id);
    this.kindsInDoubt.delete(row.name);
  }

  /** The id of a kind some instance has registered, or null if none has. */
  async kindId(name: string, manager?: EntityManager): Promise<number | null> {
    const known = this.kindIds.get(name);
    if (known !== undefined) return known;
    const repository = manager ? manager.getRepository(JobKindEntity) : this.kindRows;
    const row = await repository.findOneBy({ name });
    // Uncommitted rows of other transactions are never visible; only our own can vanish: read in that
    // transaction, or on SQLite's one connection while it is open (the data source's `busy`).
    const ownOpen = inOpenTransaction(manager) || this.database.sql.busy?.() === true;
    if (row && !(ownOpen && this.kindsInDoubt.has(name))) this.rememberKind(row);
    return row?.id ?? null;
  }

  /** Records the limits the code of each of these kinds declares (null: none), for every reader. */
  async recordLimits(kinds: Array<{ name: string; limits: KindLimits | null }>): Promise<void> {
    if (kinds.length === 0) return;
    const stored = new Map(
      (
        await this.kindRows.find({
          where: { name: In(kinds.map((kind) => kind.name)) },
          select: { name: true, limits: true },
        })
      ).map((row) => [row.name, row.limits]),
    );
    for (const { name, limits } of kinds) {
      const json = limits ? JSON.stringify(limits) : null;
      // (Instances starting at once write the same rows beside claims that lock them: a deadlock
      // there is tried again, as are the other writes of startup.)
      if (stored.get(name) !== json) {
        await retryTransient(() => this.kindRows.update({ name }, { limits: json }));
      }
    }
  }

  /** Records that a running instance handles these kinds now (see JobKindEntity.handledAt). */
  async confirmHandlers(names: string[], now: number): Promise<void> {
    if (names.length === 0) return;
    await retryTransient(() =>
      this.kindRows
        .createQueryBuilder()
        .update()
        .set({ handledAt: new Date(now) })
        .where({ name: In(names) })
        .execute(),
    );
  }

  /**
   * `notify`: a wake-up the last INSERT carries (PostgreSQL; see Wakeups.carry): those woken find
   * every row, the earlier statements' too.
   */
  async insertMany(
    rows: NewJobRow[],
    manager?: EntityManager,
    notify: Notify | null = null,
  ): Promise<number[]> {
    const sql = this.sql(manager);
    const ids: number[] = [];
    const chunks = [...insertChunks(rows)];
    for (const [n, chunk] of chunks.entries()) {
      const carried = n === chunks.length - 1 ? notify : null;
      ids.push(
        ...(await this.ownRetry(manager, () => this.dialect.insertMany(sql, chunk, carried))),
      );
    }
    return ids;
  }

  /**
   * Runs a statement of the module's own again after a deadlock (InnoDB can pick an INSERT as the
   * victim of a deadlock with a claim's locked read; seen in CI): the statement did nothing. In the
   * caller's transaction it is not tried again: the deadlock rolled back the caller's work too.
   */
  private ownRetry<T>(manager: EntityManager | undefined, work: () => Promise<T>): Promise<T> {
    return manager?.queryRunner ? work() : retryTransient(work);
  }

  /**
   * Inserts a job with a unique key, or finds the active job that holds the key. Loops because the
   * holder can finish between our failed insert and our read.
   */
  async insertUnique(
    row: NewJobRow,
    manager?: EntityManager,
  ): Promise<{ id: number; inserted: boolean }> {
    const sql = this.sql(manager);
    for (;;) {
      const id = await this.ownRetry(manager, () => this.dialect.insertUnlessDuplicate(sql, row));
      if (id !== null) return { id, inserted: true };
      const holder = await this.dialect.run(
        sql,
        `SELECT id FROM ${JOBS_TABLE} WHERE active_key = ?`,
        [row.uniqueKey],
      );
      if (holder.rows.length) return { id: Number(holder.rows[0].id), inserted: false };
    }
  }

  claim(request: ClaimRequest): Promise<ClaimedJob[]> {
    return this.dialect.claim(this.database.sql, request);
  }

  /** Whether any job of these kinds is due (one statement, no lock). */
  anyDue(request: Pick<ClaimRequest, 'now' | 'kinds' | 'queues' | 'priorities'>): Promise<boolean> {
    return this.dialect.anyDue(this.database.sql, request);
  }

  /** Due jobs of kinds with limits, in the order a limited claim tries them (no lock; see scanCandidates). */
  async limitedCandidates(request: CandidateScanRequest): Promise<Candidate[]> {
    return runSteps(scanCandidates(request, this.dialect.limitedClaimSql()), (step) =>
      this.dialect.run(this.database.sql, step.text, step.params),
    );
  }

  /**
   * Claims jobs of kinds with limits (lib/limits/limited-claim.ts) in one serialized transaction.
   * With `look`, first checks without a lock that any is due (one statement when none is).
   */
  async claimLimited(request: LimitedClaimRequest, look: boolean): Promise<LimitedClaimResult> {
    const nothing = { jobs: [], sawDue: false, retryAt: null };
    if (look) {
      const now = request.dueBy ?? request.clock();
      const kinds = request.kinds.map((kind) => kind.name);
      if (!(await this.anyDue({ now, kinds, queues: request.queues }))) return nothing;
    }
    const sql = this.dialect.limitedClaimSql();
    const done = await this.inTransaction(() => limitedClaim(request, sql));
    return done ?? { ...nothing, sawDue: true, skipped: true };
  }

  /** Takes permits of kinds' concurrency (lib/limits/kind-permits.ts) in one serialized transaction. */
  async acquirePermits(
    request: PermitRequest,
  ): Promise<Map<string, { permits: number; share: number }> | null> {
    const sql = this.dialect.permitSql();
    return this.inTransaction(() => acquirePermits(request, sql));
  }

  /**
   * Runs statement steps in one transaction: the caller's (given a manager in one), SQLite's
   * exclusive turn (null, nothing done, while an app transaction is open: try again later), or one
   * of the module's own.
   */
  private async inTransaction<T>(
    steps: () => StatementSteps<T>,
    manager?: EntityManager,
  ): Promise<T | null> {
    if (manager?.queryRunner) {
      const sql = sqlOf(manager);
      return runSteps(steps(), (step) => this.dialect.run(sql, step.text, step.params));
    }
    if (this.database.exclusive) {
      return this.database.exclusive((run) =>
        runStepsNow(steps(), (step) =>
          // better-sqlite3 binds no booleans (the dialect's run turns them into 0/1 elsewhere).
          run(
            step.text,
            step.params.map((value) => (typeof value === 'boolean' ? Number(value) : value)),
          ),
        ),
      );
    }
    return this.database.transaction((tx) =>
      runSteps(steps(), (step) => this.dialect.run(tx, step.text, step.params)),
    );
  }

  /**
   * As inTransaction, waiting (as the module's other writes do) for an app's transaction to end on
   * SQLite, and trying again after a deadlock when the transaction is the module's own.
   */
  private async atomically<T>(
    steps: (sql: FlowSql) => StatementSteps<T>,
    manager?: EntityManager,
  ): Promise<T> {
    const sql = await this.dialect.flowSql();
    // Wrapped, so that a null result is not taken for SQLite's "not now".
    const wrapped = function* () {
      return { value: yield* steps(sql) };
    };
    if (manager?.queryRunner) return (await this.inTransaction(wrapped, manager))!.value;
    return retryTransient(async () => {
      const since = Date.now();
      for (;;) {
        const done = await this.inTransaction(wrapped);
        if (done !== null) return done.value;
        const waited = Date.now() - since;
        if (waited >= SQLITE_TRANSACTION_WAIT_MS) throw new SqliteTransactionOpenError(waited);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    });
  }

  /** Inserts jobs that depend on existing ones (lib/flows/flow.steps.ts); returns their ids. */
  insertDependents(jobs: DependentJob[], manager?: EntityManager): Promise<number[]> {
    return this.atomically((sql) => insertDependents(jobs, sql, Date.now()), manager);
  }

  /** Inserts a flow's jobs and edges at once; returns their ids in the order of `nodes`. */
  insertFlow(nodes: FlowNode[], manager?: EntityManager): Promise<number[]> {
    return this.atomically((sql) => insertFlow(nodes, sql), manager);
  }

  /** Inserts a batch and its jobs at once; returns the batch's id and the jobs' ids. */
  insertBatch(
    rows: NewJobRow[],
    callback: NewJobRow | null,
    manager?: EntityManager,
  ): Promise<{ id: number; ids: number[] }> {
    return this.atomically(function* (sql) {
      const id = yield* insertBatch(rows.length, callback, sql, Date.now());
      const ids = yield* insertFlow(
        rows.map((row) => ({ row: { ...row, batchId: id }, parent: null, cancelOnFailure: true })),
        sql,
      );
      return { id, ids };
    }, manager);
  }

  /** Settles the ends of these jobs (their dependents, their batches): see lib/flows/flow.steps.ts. */
  settle(ids: number[]): Promise<Settled> {
    return this.atomically((sql) => settle(ids, sql, Date.now()));
  }

  /**
   * Settles what a crash or a race left unsettled (the housekeeper's chore). One read when no
   * dependency or batch is open (a deployment that uses neither pays only that, once a minute).
   */
  async sweepFlows(): Promise<Settled> {
    const open = await this.dialect.run(this.database.sql, OPEN_FLOWS, []);
    if (Number(open.rows[0]?.n ?? 0) === 0) return { released: [], cancelled: [], batches: [] };
    return this.atomically((sql) => sweep(sql, Date.now()));
  }

  /** Cancels the pending jobs `id` waits on, all the way down; returns them. */
  cancelChildren(id: number): Promise<number[]> {
    const now = Date.now();
    return this.atomically(function* () {
      return yield* cancelPending(yield* pendingDescendants(id), now);
    });
  }

  /** What `jobId` waited on: see JobContext.dependencies(). */
  async dependenciesOf(jobId: number): Promise<JobDependency[]> {
    const edges = await this.dialect.run(
      this.database.sql,
      `SELECT depends_on, dep_status FROM ${JOB_DEPS_TABLE} WHERE job_id = ? ORDER BY depends_on`,
      [jobId],
    );
    if (edges.rows.length === 0) return [];
    const ids = edges.rows.map((row) => Number(row.depends_on));
    const rows = new Map(
      (
        await this.jobs.find({
          where: { id: In(ids) },
          select: { id: true, kind: true, status: true, result: true },
        })
      ).map((row) => [row.id, row]),
    );
    return edges.rows.map((edge) => {
      const id = Number(edge.depends_on);
      const row = rows.get(id);
      return {
        id,
        kind: row?.kind ?? null,
        status: row?.status ?? (edge.dep_status as JobDependency['status'] | null) ?? 'deleted',
        result: row?.result ?? null,
      };
    });
  }

  /** A batch's row and its jobs' counts, or null. */
  async batch(id: number): Promise<{
    row: Record<string, unknown>;
    counts: Record<'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled', number>;
  } | null> {
    return this.atomically(function* () {
      const found = yield {
        text: `SELECT id, total, created, finished_at, succeeded, failed, cancelled, callback_job_id
          FROM ${JOB_BATCHES_TABLE} WHERE id = ?`,
        params: [id],
      };
      if (found.rows.length === 0) return null;
      return { row: found.rows[0], counts: yield* batchCounts(id) };
    });
  }

  async setPermits(owner: string, kind: string, permits: number): Promise<void> {
    await this.dialect.run(
      this.database.sql,
      `UPDATE ${JOB_PERMITS_TABLE} SET permits = ? WHERE kind = ? AND owner = ?`,
      [permits, kind, owner],
    );
  }

  async renewPermits(owner: string, now: number, until: number): Promise<number> {
    const result = await this.dialect.run(
      this.database.sql,
      `UPDATE ${JOB_PERMITS_TABLE} SET held_until = ? WHERE owner = ? AND held_until >= ?`,
      [until, owner, now],
    );
    return result.affected;
  }

  async permitOwners(kinds: string[], now: number): Promise<Map<string, number>> {
    const result = await this.dialect.run(
      this.database.sql,
      `SELECT kind, COUNT(*) AS owners FROM ${JOB_PERMITS_TABLE}
        WHERE kind IN (${placeholders(kinds.length)}) AND held_until >= ? GROUP BY kind`,
      [...kinds, now],
    );
    return new Map(result.rows.map((row) => [String(row.kind), Number(row.owners)]));
  }

  async dropPermits(owner: string, kinds?: string[]): Promise<void> {
    const only = kinds ? ` AND kind IN (${placeholders(kinds.length)})` : '';
    await this.dialect.run(
      this.database.sql,
      `DELETE FROM ${JOB_PERMITS_TABLE} WHERE owner = ?${only}`,
      [owner, ...(kinds ?? [])],
    );
  }

  /**
   * Writes the ends of several runs, a statement per owner and 500 updates; with `deleteSucceeded`
   * (retention `succeeded: 0`) a success deletes its job instead. Returns, per update, whether it held.
   * Given `manager`, the writes join its transaction (`job.transaction()`). The report gets, on
   * PostgreSQL, the ids of awaited jobs (see `markAwaited`), and the ids of linked jobs (a flow's,
   * a batch's: see linkedSql) whose end was written, to be settled (FlowStore.settle).
   */
  async finish(
    updates: JobUpdate[],
    deleteSucceeded = false,
    { manager, ...report }: { manager?: EntityManager } & FinishReport = {},
  ): Promise<boolean[]> {
    const held = new Map<JobUpdate, boolean>();
    const sql = this.sql(manager);
    const gone = (update: JobUpdate) => deleteSucceeded && update.status === 'succeeded';
    await this.perOwnerBatch(sql, updates.filter(gone), held, (owner, batch) =>
      this.dialect.deleteHeld(sql, owner, batch.map(claimOf), report),
    );
    // Not deleted: a linked job (its end is written, to be settled), or one no longer ours. Plain
    // successes (most ends) in statements of their own shape (see FinishShape).
    const written = updates.filter((update) => !gone(update) || !held.get(update));
    for (const shape of FINISH_SHAPES) {
      await this.perOwnerBatch(
        sql,
        written.filter((update) => finishShapeOf(update) === shape),
        held,
        (owner, batch) => this.dialect.finish(sql, owner, batch, shape, report),
      );
    }
    return updates.map((update) => held.get(update)!);
  }

  /** Calls `write` for each owner's updates, a statement's worth at a time, and records whether each held. */
  private async perOwnerBatch(
    sql: Sql,
    updates: JobUpdate[],
    held: Map<JobUpdate, boolean>,
    write: (owner: string, batch: JobUpdate[]) => Promise<boolean[]>,
  ): Promise<void> {
    const owners = new Map<string, JobUpdate[]>();
    for (const update of updates) {
      const list = owners.get(update.owner);
      if (list) list.push(update);
      else owners.set(update.owner, [update]);
    }
    for (const [owner, ofOwner] of owners) {
      for (const batch of finishChunks(ofOwner)) {
        const results = await write(owner, batch);
        batch.forEach((update, n) => held.set(update, results[n]));
      }
    }
  }

  /** Pauses or resumes a queue for every instance; returns whether that changed anything. */
  setQueuePaused(name: string, paused: boolean, now: number): Promise<boolean> {
    return retryTransient(() => this.dialect.setQueuePaused(this.database.sql, name, paused, now));
  }

  /** The queues with a state of their own, and whether each is paused. */
  queueStates(): Promise<Map<string, boolean>> {
    return this.dialect.queueStates(this.database.sql);
  }

  /** Stores a running job's progress (JSON text) while `owner` holds it by this claim; returns whether it held. */
  setProgress(
    owner: string,
    job: HeldJob,
    json: string,
    manager?: EntityManager,
  ): Promise<boolean> {
    return this.dialect.setProgress(this.sql(manager), owner, job, json);
  }

  /** Who holds each of these jobs now, by which claim, and in which status (absent: deleted). */
  holders(ids: number[]): Promise<Map<number, JobHolder>> {
    return this.dialect.holders(this.database.sql, ids);
  }

  renew(owner: string, ids: number[], until: number): Promise<number> {
    return this.dialect.renew(this.database.sql, owner, ids, until);
  }

  /** Gives back these claims unrun (see JobsDialect.release). */
  release(owner: string, jobs: HeldJob[], now: number, note: string): Promise<number> {
    return this.dialect.release(this.database.sql, owner, jobs, now, note);
  }

  reapExpired(now: number, note: string): Promise<number> {
    return this.dialect.reapExpired(this.database.sql, now, note);
  }

  /**
   * Deletes jobs that finished before each rule's moment in its status, `batchSize` at a time so no
   * statement holds locks for long (one SELECT when there is nothing to delete). Schedule rows are
   * history and are kept. Returns how many.
   */
  async pruneFinished(
    rules: Array<{ status: JobStatus; before: number }>,
    batchSize = 500,
  ): Promise<number> {
    if (rules.length === 0) return 0;
    const statuses = rules.map((rule) => rule.status);
    const finishedBefore = new Brackets((qb) => {
      rules.forEach((rule, i) =>
        qb.orWhere(`(job.status = :status${i} AND job.finishedAt < :before${i})`, {
          [`status${i}`]: rule.status,
          [`before${i}`]: rule.before,
        }),
      );
    });
    let deleted = 0;
    for (;;) {
      const batch = await this.jobs
        .createQueryBuilder('job')
        .select('job.id', 'id')
        .where(finishedBefore)
        .andWhere('job.schedule IS NULL')
        // Kept while a dependent may still read it (job.dependencies()), and while its batch has
        // not finished (its counts are read from its jobs until then). See lib/flows/.
        .andWhere(
          `(job.hasDependents = FALSE OR NOT EXISTS (SELECT 1 FROM ${JOB_DEPS_TABLE} d
            WHERE d.depends_on = job.id AND d.dependent_done = FALSE))`,
        )
        .andWhere(
          `(job.batchId IS NULL OR EXISTS (SELECT 1 FROM ${JOB_BATCHES_TABLE} b
            WHERE b.id = job.batchId AND b.finished_at IS NOT NULL))`,
        )
        .orderBy('job.id')
        .limit(batchSize)
        .getRawMany<{ id: number | string }>();
      if (batch.length === 0) return deleted;
      // The status is checked again: a job retried since it was read is no longer finished.
      const result = await this.jobs.delete({
        id: In(batch.map((row) => Number(row.id))),
        status: In(statuses),
      });
      deleted += result.affected ?? batch.length;
      // What the deleted jobs waited on is no longer needed for them.
      await this.dialect.run(
        this.database.sql,
        `DELETE FROM ${JOB_DEPS_TABLE} WHERE job_id IN (${placeholders(batch.length)})`,
        batch.map((row) => Number(row.id)),
      );
      if (batch.length < batchSize) return deleted;
    }
  }

  /** Makes pending jobs due now, keeping their attempts (not those waiting on dependencies); returns how many. */
  async makeDue(ids: number[], now: number): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await retryTransient(() =>
      this.jobs
        .createQueryBuilder()
        .update()
        .set({ runAt: new Date(now) })
        .where({ id: In(ids), status: 'pending' })
        // A job waiting on dependencies is due when they end, not before (lib/flows/).
        .andWhere('(deps_left IS NULL OR deps_left = 0)')
        .execute(),
    );
    return result.affected ?? 0;
  }

  /** Deletes the jobs that are not running (a running job's handler still holds it); returns how many. */
  async deleteUnlessRunning(ids: number[]): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await retryTransient(() =>
      this.jobs.delete({ id: In(ids), status: Not('running') }),
    );
    return result.affected ?? 0;
  }

  /** Marks jobs as waited for (`waitFor`): on PostgreSQL, the runner that ends one NOTIFYs. */
  async markAwaited(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    await retryTransient(() =>
      this.jobs
        .createQueryBuilder()
        .update()
        .set({ awaited: true })
        .where({ id: In(ids), awaited: false })
        .execute(),
    );
  }

  /** Cancels a pending or running job; false if it was neither. */
  async cancel(id: number, now: number): Promise<boolean> {
    const result = await retryTransient(() =>
      this.jobs
        .createQueryBuilder()
        .update()
        .set({
          status: 'cancelled',
          ...activeColumns('cancelled', null),
          finishedAt: new Date(now),
          lockedBy: null,
          lockedUntil: null,
        })
        .where('id = :id AND status IN (:...open)', { id, open: statusesFor('cancel') })
        .execute(),
    );
    return (result.affected ?? 0) > 0;
  }

  /**
   * Makes a failed or cancelled job due now with its attempts reset (TRANSITIONS.retry). Its dedupe
   * key comes back unless another active job holds it meanwhile.
   */
  async retry(job: JobEntity, now: number): Promise<boolean> {
    const keyFree =
      job.uniqueKey !== null && !(await this.jobs.existsBy({ activeKey: job.uniqueKey }));
    const result = await retryTransient(() =>
      this.jobs
        .createQueryBuilder()
        .update()
        .set({
          status: 'pending',
          ...activeColumns('pending', keyFree ? job.uniqueKey : null),
          attempts: 0,
          runAt: new Date(now),
          finishedAt: null,
        })
        .where('id = :id AND status IN (:...retryable)', {
          id: job.id,
          retryable: statusesFor('retry'),
        })
        .execute(),
    );
    return (result.affected ?? 0) > 0;
  }
}

function inOpenTransaction(manager: EntityManager | undefined): boolean {
  return manager?.queryRunner?.isTransactionActive === true;
}
