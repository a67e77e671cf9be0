import type { DataSource, EntityManager } from 'typeorm';
import type { Notify } from '../storage/dialects/dialect.js';
import { sqlOf } from '../storage/sql.js';
import { CommitWatcher } from './commit-watcher.js';
import { PostgresListener, type ControlMessage } from './postgres.listener.js';
import { PostgresNotifier } from './postgres.notifier.js';
import { SqliteFileWatcher } from './sqlite-file.watcher.js';

/** What wake-ups need of this instance's runner. */
export interface LocalRunner {
  /** Names this instance in notifications, so it ignores its own. */
  readonly owner: string;
  /** Whether a job of this kind and queue would be claimed here (now or when due). */
  handles(kind: string, queue: string): boolean;
  /** Whether a job of this kind and queue, due now, would be claimed here at once. */
  canTakeNow(kind: string, queue: string): boolean;
  /** Claims at `at` (epoch ms; at once when past). */
  wakeAt(at: number): void;
  /** Whether it has nothing in hand and nothing it knows to be due (then a claim costs one statement). */
  idle(): boolean;
}

/** A job just written, as far as wake-ups care. */
export interface AddedJob {
  kind: string;
  queue: string;
  runAt: Date;
}

export type ControlHandler = (message: ControlMessage, ids: number[]) => void;

/**
 * Every way a runner learns that jobs are due, behind one object: this instance's runner is woken
 * directly (at once, or by a timer when the jobs are delayed); other instances are woken on
 * PostgreSQL by NOTIFY (carrying when the jobs are due) and elsewhere find them at their next
 * poll; jobs enqueued in a transaction wake runners when it commits. Control messages (a job was
 * cancelled, an awaited job ended) travel the same way: to this instance's subscribers at once, to
 * the others' on PostgreSQL by NOTIFY; elsewhere the subscribers poll (see RunningJobs, JobWaiters).
 */
export class Wakeups {
  private runner: LocalRunner | null = null;
  private listener: PostgresListener | null = null;
  private notifier: PostgresNotifier | null = null;
  private fileWatcher: SqliteFileWatcher | null = null;
  private readonly commits: CommitWatcher;
  private readonly subscribers = new Set<ControlHandler>();
  private owner: string | null = null;
  private stopped = false;

  constructor(
    private readonly dataSource: DataSource,
    /** PostgreSQL LISTEN/NOTIFY (the module's `notify` option). */
    private readonly notify: boolean,
  ) {
    this.commits = new CommitWatcher(dataSource, (at) => this.wakeAll(at));
  }

  private get postgres(): boolean {
    return this.notify && this.dataSource.options.type === 'postgres';
  }

  /** Connects this instance's runner; with `listen`, it also hears other instances' jobs. */
  attach(runner: LocalRunner, listen: boolean): void {
    this.runner = runner;
    this.owner = runner.owner;
    if (listen) this.watchFile(runner);
    if (!this.postgres) return;
    this.notifier = new PostgresNotifier(sqlOf(this.dataSource), runner.owner);
    if (listen) this.listen();
  }

  /**
   * On a SQLite file, another process's commit wakes this runner when it is idle (a busy one claims
   * after each of its own ends anyway, and its own commits change the file too).
   */
  private watchFile(runner: LocalRunner): void {
    this.fileWatcher = SqliteFileWatcher.of(this.dataSource, () => {
      if (!this.stopped && runner.idle()) runner.wakeAt(Date.now());
    });
    this.fileWatcher?.start();
  }

  /** Whether other instances' control messages reach this one at once (PostgreSQL's NOTIFY). */
  get hearsOthers(): boolean {
    return this.listener?.listening === true;
  }

  /**
   * Calls `handler` for every control message, from this instance or (on PostgreSQL) another; an
   * instance without a runner starts listening for them here. Returns the unsubscribe.
   */
  subscribe(handler: ControlHandler): () => void {
    this.subscribers.add(handler);
    if (this.postgres && this.owner !== null) this.listen();
    return () => this.subscribers.delete(handler);
  }

  /** Tells this instance's subscribers at once, and the others' on PostgreSQL. */
  control(message: ControlMessage, ids: number[]): void {
    if (ids.length === 0) return;
    for (const handler of this.subscribers) handler(message, ids);
    this.notifier?.control(message, ids);
  }

  /**
   * Runs of these jobs ended here and were written: this instance's subscribers hear of them all
   * (when there are any), other instances (PostgreSQL) of those someone waits for (`awaited`).
   */
  ended(ids: number[], awaited: number[]): void {
    for (const handler of this.subscribers) handler('finished', ids);
    if (awaited.length > 0) this.notifier?.control('finished', awaited);
  }

  private listen(): void {
    if (this.listener || this.stopped) return;
    const runner = this.runner;
    this.listener = new PostgresListener(this.dataSource, this.owner!, {
      wake: (at) => runner?.wakeAt(at),
      control: (message, ids) => {
        for (const handler of this.subscribers) handler(message, ids);
      },
    });
    void this.listener.start();
  }

  /**
   * Before jobs are written outside a transaction (a single enqueue's INSERT, the last INSERT of an
   * enqueueMany: see JobStore.insertMany): the wake-up NOTIFY that INSERT can carry, so other
   * instances hear of them as it commits, one round trip sooner than by a NOTIFY sent after it;
   * null when none is to go now (PostgreSQL only). Then pass `carried` to `added`.
   */
  carry(jobs: AddedJob[], manager?: EntityManager): Notify | null {
    if (!this.notifier || jobs.length === 0 || manager?.queryRunner?.isTransactionActive) {
      return null;
    }
    if (this.takenHere(jobs)) return null;
    let at = Infinity;
    for (const job of jobs) at = Math.min(at, job.runAt.getTime());
    return this.notifier.carry(at);
  }

  /**
   * Jobs were just written (through `manager`, if given): wake whoever will run them, when due.
   * `carried`: their INSERT carried the other instances' wake-up (see `carry`).
   */
  added(jobs: AddedJob[], manager?: EntityManager, carried = false): void {
    if (jobs.length === 0) return;
    let at = Infinity;
    for (const job of jobs) at = Math.min(at, job.runAt.getTime());
    if (manager?.queryRunner?.isTransactionActive) return this.commits.mark(manager, at);
    if (this.takenHere(jobs) || carried) this.runner?.wakeAt(at);
    else this.wakeAll(at);
  }

  /**
   * Whether a runner here takes these jobs (at once if due): then it needs no one else, waking the
   * others would only send them after the same jobs, and NOTIFY costs every committing
   * transaction a lock.
   */
  private takenHere(jobs: AddedJob[]): boolean {
    const runner = this.runner;
    if (runner === null) return false;
    const now = Date.now();
    return jobs.every((job) =>
      job.runAt.getTime() <= now
        ? runner.canTakeNow(job.kind, job.queue)
        : runner.handles(job.kind, job.queue),
    );
  }

  /** Wakes this instance's runner and, on PostgreSQL, the others, for jobs due at `at`. */
  wakeAll(at = Date.now()): void {
    this.runner?.wakeAt(at);
    this.notifier?.send(at);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.commits.stop();
    this.fileWatcher?.stop();
    await this.listener?.stop();
    this.listener = null;
  }
}
