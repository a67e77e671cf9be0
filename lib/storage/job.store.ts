import {
  Brackets,
  In,
  type DataSource,
  type EntityManager,
  type EntitySubscriberInterface,
  type Repository,
} from 'typeorm';
import { JobEntity } from '../entities/job.entity.js';
import { JobKindEntity } from '../entities/job-kind.entity.js';
import { UnsupportedDatabaseError } from '../errors/jobs.errors.js';
import { JOBS_TABLE } from '../jobs.constants.js';
import { messages } from '../jobs.messages.js';
import type { ListJobsFilter } from '../interfaces/jobs-service.interface.js';
import type { JobStatus } from '../interfaces/job-context.interface.js';
import { JobsDialect } from './dialect.js';
import { MysqlDialect } from './mysql.dialect.js';
import { PostgresDialect } from './postgres.dialect.js';
import { SqliteDialect } from './sqlite.dialect.js';
import { PostgresWakeups } from './postgres.wakeups.js';
import { databaseOf, sqlOf, type Database, type Sql } from './sql.js';
import type { ClaimRequest, ClaimedJob, JobUpdate, NewJobRow } from './job-rows.js';
import { scheduleKeyOf } from '../schedules/schedule.js';

/** One row of `countByKindAndStatus`. */
export interface KindStatusCount {
  kind: string;
  status: JobStatus;
  count: number;
}

/** A schedule declared in code, ready to be stored. */
export interface DeclaredSchedule {
  kind: string;
  /** JSON of the spec; compared as text to see whether the code changed it. */
  spec: string;
  interval: number | null;
  queue: string;
  priority: number;
  maxAttempts: number;
  firstRunAt: number;
}

const MAX_LIST = 1_000;
/** Outcomes written per statement at most. */
const FINISH_BATCH = 500;
const COMMIT_FLAG = 'nestjs-typeorm-jobs:wake-after-commit';

function dialectFor(dataSource: DataSource, database: Database): JobsDialect {
  const type = String(dataSource.options.type);
  switch (type) {
    case 'postgres':
      return new PostgresDialect();
    case 'mysql':
    case 'mariadb':
      return new MysqlDialect(database);
    case 'better-sqlite3':
    case 'sqlite':
      return new SqliteDialect(
        dataSource.driver as { queryRunner?: { isTransactionActive: boolean } },
      );
    default:
      throw new UnsupportedDatabaseError(type);
  }
}

/**
 * Every read and write of jobs and kinds. The runner's hot path (claim, finish, renew) goes through
 * the dialect's hand-written SQL; the rest uses TypeORM's repositories. Knows nothing of Nest.
 */
export class JobStore {
  readonly dialect: JobsDialect;
  private readonly database: Database;
  private readonly jobs: Repository<JobEntity>;
  private readonly kindRows: Repository<JobKindEntity>;
  /** Kind name -> id, for kinds known to exist (they are never renamed). */
  private readonly kindIds = new Map<string, number>();
  private waking: Promise<void> | null = null;
  private wakeAgain = false;

  constructor(private readonly dataSource: DataSource) {
    this.database = databaseOf(dataSource);
    this.dialect = dialectFor(dataSource, this.database);
    this.jobs = dataSource.getRepository(JobEntity);
    this.kindRows = dataSource.getRepository(JobKindEntity);
  }

  private sql(manager?: EntityManager): Sql {
    return manager ? sqlOf(manager) : this.database.sql;
  }

  /**
   * Calls `listener` after each commit of a transaction that `markForCommit` was given, so a job
   * enqueued in a transaction can start as soon as it is visible. Returns the way to stop.
   */
  watchCommits(listener: () => void): () => void {
    const subscriber: EntitySubscriberInterface = {
      afterTransactionCommit: (event) => {
        const data = event.queryRunner.data as Record<string, unknown> | undefined;
        if (!data?.[COMMIT_FLAG]) return;
        delete data[COMMIT_FLAG];
        listener();
      },
    };
    const subscribers = this.dataSource.subscribers as EntitySubscriberInterface[];
    subscribers.push(subscriber);
    return () => {
      const at = subscribers.indexOf(subscriber);
      if (at >= 0) subscribers.splice(at, 1);
    };
  }

  /**
   * PostgreSQL: listens for jobs enqueued by other instances and calls `onWake` (see
   * PostgresWakeups). Returns the way to stop, or null on databases without LISTEN.
   */
  listenForWakeups(self: string, onWake: () => void): { stop(): Promise<void> } | null {
    if (this.dialect.name !== 'postgres') return null;
    const wakeups = new PostgresWakeups(this.dataSource, self, onWake);
    void wakeups.start();
    return wakeups;
  }

  /** Flags the manager's open transaction for `watchCommits`. */
  markForCommit(manager: EntityManager): void {
    const runner = manager.queryRunner;
    if (runner) (runner.data ??= {})[COMMIT_FLAG] = true;
  }

  /** Problems with the database setup worth a warning at startup. */
  async setupWarnings(): Promise<string[]> {
    if (this.dataSource.options.type !== 'mysql') return [];
    const [{ version }] = await this.dataSource.query('SELECT VERSION() AS version');
    return String(version).includes('MariaDB') ? [messages.mariadbAsMysql(String(version))] : [];
  }

  /** Records the kinds this instance handles; existing rows keep their id and creation time. */
  async upsertKinds(names: string[]): Promise<void> {
    if (names.length === 0) return;
    const now = new Date();
    await this.kindRows
      .createQueryBuilder()
      .insert()
      .values(names.map((name) => ({ name, created: now, modified: now })))
      .orIgnore()
      .execute();
    for (const row of await this.kindRows.findBy({ name: In(names) }))
      this.kindIds.set(row.name, row.id);
  }

  /**
   * Makes the schedule rows match the schedules declared in this code: one active row per declared
   * schedule (inserted once across every instance, by its dedupe key), its spec updated when the code
   * changed it, and rows of kinds that no longer declare one cancelled (kept for history).
   */
  async syncSchedules(
    declared: DeclaredSchedule[],
    undeclared: string[],
    now: number,
  ): Promise<void> {
    for (const schedule of declared) {
      const key = scheduleKeyOf(schedule.kind);
      const row = await this.jobs.findOne({
        where: { uniqueKey: key, kind: schedule.kind },
        order: { id: 'DESC' },
      });
      if (!row) {
        await this.insertUnique({
          kind: schedule.kind,
          kindId: this.kindIds.get(schedule.kind) ?? null,
          queue: schedule.queue,
          data: 'null',
          periodic: true,
          interval: schedule.interval,
          priority: schedule.priority,
          runAt: schedule.firstRunAt,
          maxAttempts: schedule.maxAttempts,
          created: now,
          uniqueKey: key,
          schedule: schedule.spec,
        });
      } else if (row.schedule !== schedule.spec || !row.active) {
        const reschedule = row.status !== 'running';
        await this.jobs.update(row.id, {
          schedule: schedule.spec,
          interval: schedule.interval,
          maxAttempts: schedule.maxAttempts,
          ...(reschedule
            ? {
                status: 'pending',
                active: true,
                attempts: 0,
                finishedAt: null,
                activeKey: key,
                runAt: new Date(schedule.firstRunAt),
              }
            : {}),
        });
      }
    }
    if (undeclared.length > 0) {
      await this.jobs
        .createQueryBuilder()
        .update()
        .set({ status: 'cancelled', active: false, activeKey: null, finishedAt: new Date(now) })
        .where('kind IN (:...kinds) AND schedule IS NOT NULL AND status = :pending', {
          kinds: undeclared,
          pending: 'pending',
        })
        .execute();
    }
  }

  /** The id of a kind some instance has registered, or null if none has. */
  async kindId(name: string, manager?: EntityManager): Promise<number | null> {
    const known = this.kindIds.get(name);
    if (known !== undefined) return known;
    const repository = manager ? manager.getRepository(JobKindEntity) : this.kindRows;
    const row = await repository.findOneBy({ name });
    if (row) this.kindIds.set(name, row.id);
    return row?.id ?? null;
  }

  async kinds(): Promise<JobKindEntity[]> {
    return this.kindRows.find({ order: { name: 'ASC' } });
  }

  async insertMany(rows: NewJobRow[], manager?: EntityManager): Promise<number[]> {
    const sql = this.sql(manager);
    const ids: number[] = [];
    for (let i = 0; i < rows.length; i += 1_000) {
      ids.push(...(await this.dialect.insertMany(sql, rows.slice(i, i + 1_000))));
    }
    return ids;
  }

  /**
   * Wakes runners listening in other instances (PostgreSQL NOTIFY with `self` as payload; nothing
   * elsewhere). Fire and forget, and coalesced: while one NOTIFY is in flight, the calls that come
   * meanwhile send one more after it. NOTIFY serializes committing transactions on a global lock,
   * so it travels on its own, once per burst of enqueues, never with every INSERT.
   */
  wakeOthers(self: string): void {
    if (this.dialect.name !== 'postgres') return;
    if (this.waking) {
      this.wakeAgain = true;
      return;
    }
    this.waking = this.dialect
      .wakeOthers(this.database.sql, self)
      .catch(() => undefined) // the others find the jobs at their next poll
      .finally(() => {
        this.waking = null;
        if (this.wakeAgain) {
          this.wakeAgain = false;
          this.wakeOthers(self);
        }
      });
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
      const id = await this.dialect.insertUnlessDuplicate(sql, row);
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

  /**
   * Writes the ends of several runs, a statement per owner and 500 updates; with `deleteSucceeded`
   * (retention `succeeded: 0`) a success deletes its job instead. Returns, per update, whether it held.
   */
  async finish(updates: JobUpdate[], deleteSucceeded = false): Promise<boolean[]> {
    const held = new Map<JobUpdate, boolean>();
    const gone = (update: JobUpdate) => deleteSucceeded && update.status === 'succeeded';
    await this.perOwnerBatch(updates.filter(gone), held, (sql, owner, batch) =>
      this.dialect.deleteHeld(
        sql,
        owner,
        batch.map((update) => update.id),
      ),
    );
    await this.perOwnerBatch(
      updates.filter((update) => !gone(update)),
      held,
      (sql, owner, batch) => this.dialect.finish(sql, owner, batch),
    );
    return updates.map((update) => held.get(update)!);
  }

  /** Calls `write` for each owner's updates, FINISH_BATCH at a time, and records whether each held. */
  private async perOwnerBatch(
    updates: JobUpdate[],
    held: Map<JobUpdate, boolean>,
    write: (sql: Sql, owner: string, batch: JobUpdate[]) => Promise<boolean[]>,
  ): Promise<void> {
    const owners = new Map<string, JobUpdate[]>();
    for (const update of updates) {
      const list = owners.get(update.owner);
      if (list) list.push(update);
      else owners.set(update.owner, [update]);
    }
    for (const [owner, ofOwner] of owners) {
      for (let i = 0; i < ofOwner.length; i += FINISH_BATCH) {
        const batch = ofOwner.slice(i, i + FINISH_BATCH);
        const results = await write(this.database.sql, owner, batch);
        batch.forEach((update, n) => held.set(update, results[n]));
      }
    }
  }

  renew(owner: string, ids: number[], until: number): Promise<number> {
    return this.dialect.renew(this.database.sql, owner, ids, until);
  }

  release(owner: string, ids: number[], now: number, note: string): Promise<number> {
    return this.dialect.release(this.database.sql, owner, ids, now, note);
  }

  reapExpired(now: number, note: string): Promise<number> {
    return this.dialect.reapExpired(this.database.sql, now, note);
  }

  get(id: number, manager?: EntityManager): Promise<JobEntity | null> {
    const repository = manager ? manager.getRepository(JobEntity) : this.jobs;
    return repository.findOneBy({ id });
  }

  /** Jobs matching the filter, newest (or oldest) first, keyset-paginated by id. */
  list(filter: ListJobsFilter = {}): Promise<JobEntity[]> {
    const newest = (filter.order ?? 'newest') === 'newest';
    const query = this.jobs.createQueryBuilder('job');
    const where = new Brackets((qb) => {
      qb.where('1 = 1');
      if (filter.status !== undefined) {
        qb.andWhere('job.status IN (:...status)', { status: [filter.status].flat() });
      }
      if (filter.kind !== undefined) qb.andWhere('job.kind = :kind', { kind: filter.kind });
      if (filter.queue !== undefined) qb.andWhere('job.queue = :queue', { queue: filter.queue });
      if (filter.periodic !== undefined)
        qb.andWhere('job.periodic = :periodic', { periodic: filter.periodic });
      if (filter.active !== undefined)
        qb.andWhere('job.active = :active', { active: filter.active });
      if (filter.failed !== undefined)
        qb.andWhere('job.failed = :failed', { failed: filter.failed });
      if (filter.after !== undefined) {
        qb.andWhere(newest ? 'job.id < :after' : 'job.id > :after', { after: filter.after });
      }
    });
    return query
      .where(where)
      .orderBy('job.id', newest ? 'DESC' : 'ASC')
      .take(Math.min(Math.max(filter.limit ?? 100, 1), MAX_LIST))
      .getMany();
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
      if (batch.length < batchSize) return deleted;
    }
  }

  /** How many jobs there are of each kind in each status (one grouped query). */
  async countByKindAndStatus(): Promise<KindStatusCount[]> {
    const rows = await this.jobs
      .createQueryBuilder('job')
      .select('job.kind', 'kind')
      .addSelect('job.status', 'status')
      .addSelect('COUNT(*)', 'count')
      .groupBy('job.kind')
      .addGroupBy('job.status')
      .orderBy('job.kind')
      .getRawMany<{ kind: string; status: JobStatus; count: string | number }>();
    return rows.map((row) => ({ kind: row.kind, status: row.status, count: Number(row.count) }));
  }

  /** When the longest-waiting due job became due, or null if none is due. */
  async oldestDue(now: number): Promise<Date | null> {
    const row = await this.jobs
      .createQueryBuilder('job')
      .select('MIN(job.runAt)', 'oldest')
      .where('job.status = :pending AND job.runAt <= :now', { pending: 'pending', now })
      .getRawOne<{ oldest: string | number | null }>();
    return row?.oldest == null ? null : new Date(Number(row.oldest));
  }

  /** Makes pending jobs due now, keeping their attempts; returns how many. */
  async makeDue(ids: number[], now: number): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await this.jobs
      .createQueryBuilder()
      .update()
      .set({ runAt: new Date(now) })
      .where({ id: In(ids), status: 'pending' })
      .execute();
    return result.affected ?? 0;
  }

  /** Cancels a pending or running job; false if it was neither. */
  async cancel(id: number, now: number): Promise<boolean> {
    const result = await this.jobs
      .createQueryBuilder()
      .update()
      .set({
        status: 'cancelled',
        active: false,
        finishedAt: new Date(now),
        activeKey: null,
        lockedBy: null,
        lockedUntil: null,
      })
      .where('id = :id AND status IN (:...open)', { id, open: ['pending', 'running'] })
      .execute();
    return (result.affected ?? 0) > 0;
  }

  /**
   * Makes a failed, cancelled or pending job due now with its attempts reset. Its dedupe key comes
   * back unless another active job holds it meanwhile.
   */
  async retry(job: JobEntity, now: number): Promise<boolean> {
    const keyFree =
      job.uniqueKey !== null && !(await this.jobs.existsBy({ activeKey: job.uniqueKey }));
    const result = await this.jobs
      .createQueryBuilder()
      .update()
      .set({
        status: 'pending',
        active: true,
        attempts: 0,
        runAt: new Date(now),
        finishedAt: null,
        activeKey: keyFree ? job.uniqueKey : null,
      })
      .where('id = :id AND status IN (:...retryable)', {
        id: job.id,
        retryable: ['failed', 'cancelled', 'pending'],
      })
      .execute();
    return (result.affected ?? 0) > 0;
  }
}
