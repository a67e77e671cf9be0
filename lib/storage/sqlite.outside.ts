import {
  QueryFailedError,
  type DataSource,
  type EntityManager,
  type EntitySubscriberInterface,
  type QueryRunner,
} from 'typeorm';
import { SqliteTransactionOpenError } from '../errors/jobs.errors.js';
import type { Sql, SqlResult } from './sql.js';

/**
 * How long a write of the module waits for a transaction of the app to end. Long enough for any
 * request's transaction; short enough that an enqueue awaited inside one (which can never get its
 * turn) fails while the request is still waiting for it.
 */
export const SQLITE_TRANSACTION_WAIT_MS = 5_000;
/** Waiting writes look again this often, for transactions TypeORM does not announce (a raw BEGIN). */
const RECHECK_MS = 10;
/** Prepared statements kept per connection (the finish and insert texts differ by batch size). */
const CACHED_STATEMENTS = 200;

/** The parts of better-sqlite3's Statement used here. */
interface Statement {
  reader: boolean;
  readonly: boolean;
  all(...params: unknown[]): Array<Record<string, unknown>>;
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  /** From now on, rows come as arrays of values in column order. */
  raw(toggle: boolean): Statement;
}

/** The parts of better-sqlite3's Database used here. */
interface Handle {
  inTransaction: boolean;
  prepare(source: string): Statement;
  exec(source: string): unknown;
}

interface Waiting {
  statement: Statement;
  text: string;
  params: unknown[];
  since: number;
  resolve(result: SqlResult<never>): void;
  reject(error: unknown): void;
}

/**
 * The module's statements on better-sqlite3, run outside every transaction that is not the
 * module's own. TypeORM drives better-sqlite3 through one connection, so a statement sent through
 * its query runner while the app has a transaction open joins that transaction, and is undone if
 * it rolls back (an outcome, a renewed lease, an enqueued job). Here each statement runs on that
 * connection's handle synchronously, only while `inTransaction` is false: the check and the
 * statement happen in one tick, so no BEGIN can come between them. A write that finds a
 * transaction open waits for it to end (TypeORM's commit and rollback events, or a short recheck),
 * in order, at most SQLITE_TRANSACTION_WAIT_MS. Reads never wait: reading inside an app's
 * transaction is harmless, and the app may read jobs inside one.
 */
export class SqliteOutsideTransactions {
  private readonly waiting: Waiting[] = [];
  private statements = new Map<string, Statement>();
  private cachedFor: Handle | null = null;
  private recheck: NodeJS.Timeout | null = null;
  private readonly subscriber: EntitySubscriberInterface = {
    afterTransactionCommit: () => this.drain(),
    afterTransactionRollback: () => this.drain(),
  };

  constructor(
    private readonly dataSource: DataSource,
    private readonly waitMs = SQLITE_TRANSACTION_WAIT_MS,
  ) {}

  /** True while a write issued now would have to wait. */
  busy(): boolean {
    return this.waiting.length > 0 || this.handle().inTransaction;
  }

  readonly sql: Sql = Object.assign(
    <Row>(text: string, params: unknown[] = []) => this.run<Row>(text, params),
    {
      busy: () => this.busy(),
      arrays: async (text: string, params: unknown[] = []) =>
        (await this.run<unknown[]>(text, params, true)).rows,
    },
  );

  /** `arrays`: rows as arrays of values in column order (see Sql.arrays). */
  run<Row = Record<string, unknown>>(
    text: string,
    params: unknown[],
    arrays = false,
  ): Promise<SqlResult<Row>> {
    let statement: Statement;
    try {
      statement = this.prepare(text, arrays);
      if (statement.readonly || !this.busy())
        return Promise.resolve(this.execute<Row>(statement, text, params));
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<SqlResult<Row>>((resolve, reject) => {
      this.waiting.push({
        statement,
        text,
        params,
        since: Date.now(),
        resolve: resolve as (result: SqlResult<never>) => void,
        reject,
      });
      this.watch();
    });
  }

  /**
   * Runs `work` at once, synchronously, inside BEGIN IMMEDIATE ... COMMIT on the handle: the write
   * lock is taken first, so no other process reads between its statements and its writes, and no
   * statement of this process comes between them. Null (nothing done) while a write would have to
   * wait for an app transaction: the caller tries again later.
   */
  exclusive<T>(work: (run: (text: string, params: unknown[]) => SqlResult) => T): T | null {
    if (this.busy()) return null;
    const handle = this.handle();
    handle.exec('BEGIN IMMEDIATE');
    try {
      const result = work((text, params) => this.execute(this.prepare(text), text, params));
      handle.exec('COMMIT');
      return result;
    } catch (error) {
      if (handle.inTransaction) handle.exec('ROLLBACK');
      throw error;
    }
  }

  /**
   * An EntityManager whose statements go through `run`, for the store's repository queries
   * (pruning, cancel, retry, kinds). Its query runner is a second instance of TypeORM's own (the
   * data source keeps one), with `query` replaced; it never opens a transaction: one held across
   * awaits on the shared connection would take in the app's statements.
   */
  manager(): EntityManager {
    const driver = this.dataSource.driver;
    const Runner = driver.createQueryRunner('master').constructor as new (
      driver: unknown,
    ) => QueryRunner;
    const runner = new Runner(driver);
    const refuse = () => Promise.reject(new Error(OWN_TRANSACTION_REFUSED));
    Object.assign(runner, {
      query: async (text: string, params: unknown[] = [], structured = false) => {
        // As TypeORM 1.x's own runner does: better-sqlite3 binds no booleans.
        const bound = params.map((value) => (typeof value === 'boolean' ? Number(value) : value));
        const result = await this.run(text, bound);
        return structured
          ? { records: result.rows, raw: result.raw, affected: result.affected }
          : result.raw;
      },
      startTransaction: refuse,
    });
    return this.dataSource.createEntityManager(runner);
  }

  private handle(): Handle {
    return (this.dataSource.driver as unknown as { databaseConnection: Handle }).databaseConnection;
  }

  private prepare(text: string, arrays = false): Statement {
    const handle = this.handle();
    if (this.cachedFor !== handle) {
      this.statements = new Map();
      this.cachedFor = handle;
    }
    // A statement's row mode is its own: one giving arrays is cached apart.
    const key = arrays ? `arrays:${text}` : text;
    let statement = this.statements.get(key);
    if (!statement) {
      statement = handle.prepare(text);
      if (arrays) statement.raw(true);
      this.statements.set(key, statement);
      if (this.statements.size > CACHED_STATEMENTS)
        this.statements.delete(this.statements.keys().next().value!);
    }
    return statement;
  }

  /** Runs a statement now, with TypeORM's logging and error type. */
  private execute<Row>(statement: Statement, text: string, params: unknown[]): SqlResult<Row> {
    const logger = this.dataSource.logger;
    logger.logQuery(text, params);
    try {
      if (statement.reader) {
        const rows = statement.all(...params);
        return { rows: rows as Row[], affected: statement.readonly ? 0 : rows.length, raw: rows };
      }
      const outcome = statement.run(...params);
      return { rows: [], affected: outcome.changes, raw: outcome.lastInsertRowid };
    } catch (error) {
      logger.logQueryError(error as Error, text, params);
      throw new QueryFailedError(text, params, error as Error);
    }
  }

  /** Listens for the end of the app's transaction while writes wait. */
  private watch(): void {
    if (this.recheck) return;
    (this.dataSource.subscribers as EntitySubscriberInterface[]).push(this.subscriber);
    this.recheck = setInterval(() => this.drain(), RECHECK_MS);
  }

  private unwatch(): void {
    if (!this.recheck) return;
    clearInterval(this.recheck);
    this.recheck = null;
    const subscribers = this.dataSource.subscribers as EntitySubscriberInterface[];
    const at = subscribers.indexOf(this.subscriber);
    if (at >= 0) subscribers.splice(at, 1);
  }

  /** Runs the waiting writes, in order, while no transaction is open; fails those waiting too long. */
  private drain(): void {
    while (this.waiting.length > 0) {
      let open: boolean;
      try {
        open = this.handle().inTransaction;
      } catch {
        open = false; // a closed handle: let the statement fail with the driver's own error
      }
      if (open) break;
      const next = this.waiting.shift()!;
      try {
        next.resolve(this.execute<never>(next.statement, next.text, next.params));
      } catch (error) {
        next.reject(error);
      }
    }
    const now = Date.now();
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const entry = this.waiting[i];
      if (now - entry.since < this.waitMs) continue;
      this.waiting.splice(i, 1);
      entry.reject(new SqliteTransactionOpenError(now - entry.since));
    }
    // Not at once: this can run inside TypeORM's forEach over the subscribers, which a removal
    // would make skip the next one (the commit watcher, say).
    if (this.waiting.length === 0) queueMicrotask(() => this.waiting.length || this.unwatch());
  }
}

const OWN_TRANSACTION_REFUSED =
  'nestjs-typeorm-jobs runs its SQLite statements one at a time, outside transactions: a ' +
  'transaction held across awaits on the one connection would take in the application statements.';
