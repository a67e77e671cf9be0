import type { JobKindDefaults } from './job-kind-options.interface.js';

/** Delay before retry number `attempt` (1 for the first retry): a base delay in ms for exponential backoff, or a function. */
export type BackoffOption = number | ((attempt: number) => number);

/** Options of `JobsModule.forRoot()` / `forRootAsync()`. Every field has a default. */
export interface JobsModuleOptions {
  /** Start the runner in this instance. `false` makes an instance that only enqueues. Default `true`. */
  runner?: boolean;
  /** Milliseconds between polls for due jobs. Default 1000. */
  pollInterval?: number;
  /** Jobs this instance runs at once. Default 10. */
  concurrency?: number;
  /** Jobs claimed per statement at most. Default: `concurrency`, or 100 if that is more. */
  batchSize?: number;
  /**
   * Milliseconds of work claimed ahead of free slots: the runner measures how fast its jobs finish
   * and keeps about this much of them claimed in memory (never more than `batchSize`), so fast jobs
   * are claimed many per statement while slow ones are left for other instances. `0` claims only
   * for free slots. Default 200.
   */
  prefetch?: number;
  /**
   * PostgreSQL: wake runners with LISTEN/NOTIFY when a job becomes due, so a job enqueued by any
   * instance starts within milliseconds (polling stays as the fallback). Holds one connection of
   * the pool per instance. Turn off behind PgBouncer in transaction mode, where LISTEN does not
   * work. Ignored on other databases. Default `true`.
   */
  notify?: boolean;
  /**
   * PostgreSQL: the runner's claims commit without waiting for their WAL record to reach the disk
   * (`synchronous_commit = off` for the claim's own transaction; everything else stays durable).
   * A job starts sooner after it is enqueued (measured p50: 0.88 → 0.72 ms in the same instance,
   * 1.27 → 0.90 ms from another; bench/RESULTS.md), at a price: if the database server crashes
   * (its process killed or its machine lost, not a clean restart) within about 0.6 s of a claim,
   * that claim can be lost: the job is pending again and runs a second time, the first run's
   * outcome and `job.transaction()` refused (docs/reliability.md, guarantee 3). Ignored on other
   * databases. Default `false`.
   */
  asyncClaimCommit?: boolean;
  /** Queues this instance runs. Default: every queue. */
  queues?: string[];
  /**
   * Milliseconds a claimed job stays locked to this instance without a renewal. The runner renews
   * every `lease / 3` while the handler runs; a crashed instance's jobs are claimed again after this.
   * Default 30000.
   */
  lease?: number;
  /** Milliseconds shutdown waits for running handlers before aborting and releasing them. Default 10000. */
  shutdownTimeout?: number;
  /** Attempts of a job before it stays failed, for kinds and enqueues that do not say. Default 5. */
  maxAttempts?: number;
  /** Backoff between attempts, for kinds that do not say. Default: exponential from 1000 ms. */
  backoff?: BackoffOption;
  /** Upper bound of any backoff delay, in ms. Default 3600000 (one hour). */
  maxBackoff?: number;
  /**
   * How long a run may take, for kinds (and enqueues) that do not say: then its `signal` aborts and
   * the run fails with JobTimeoutError (retried like any failure). Stops a handler that never
   * settles from holding a slot, and `runPending` from hanging, for ever. `0` means no limit.
   * Default 1800000 (30 minutes).
   */
  timeout?: number | string;
  /**
   * How long finished jobs are kept, per status (ms, or '1d', '12h'...; `false` keeps them for ever).
   * The runner deletes older ones about once a minute, in small batches. Default: succeeded 1 day,
   * cancelled 7 days, failed 30 days. Declared schedules' rows are never pruned.
   * `succeeded: 0` deletes a job the moment it succeeds, in place of writing its outcome: the fastest
   * way through the table (no history, no stored result), as graphile-worker does.
   */
  retention?: Partial<Record<'succeeded' | 'failed' | 'cancelled', number | string | false>>;
  /**
   * Largest job payload accepted by `enqueue`, in bytes of its UTF-8 JSON; a larger one is refused
   * with InvalidJobPayloadError before anything is written. Default 4194304 (4 MiB): a statement
   * holding one such row stays well under MariaDB's default 16 MiB `max_allowed_packet`.
   */
  maxPayloadSize?: number;
  /**
   * Kinds this app enqueues without handling them (names or `defineJobKind()` references): a web tier
   * with `runner: false` lists the kinds it sends to workers. They are recorded in the database at
   * startup, so enqueueing them works on a fresh database before any worker has started. A name no
   * instance registered and not listed here is still refused (UnknownJobKindError), so typos fail
   * loudly. Kinds with a handler in this app, and kinds enqueued through a reference, need no entry.
   * A reference listed here also lends its defaults (maxAttempts, queue, priority) to enqueues by name.
   */
  kinds?: Array<string | { readonly name: string }>;
  /**
   * Who creates the module's tables. `'auto'` (default): the module, at startup, when they are
   * missing, under a lock so instances starting together create them once (TypeORM's `synchronize`
   * never touches them). `'migrations'`: your migrations do (`...JOBS_MIGRATIONS`); startup fails
   * with JobsSchemaMissingError naming the migration that has not run. See docs/migrations.md.
   */
  schema?: 'auto' | 'migrations';
  /**
   * OpenTelemetry traces and metrics (see the README, "Tracing and metrics"). Default `true`: when
   * `@opentelemetry/api` is installed and an SDK is registered before the app is created, enqueues
   * and runs make spans and the module records its metrics; otherwise nothing happens. `false`
   * turns both off even then.
   */
  telemetry?: boolean;
}

/** Options that must be known when the module is declared (not from a factory). */
export interface JobsModuleExtras {
  /**
   * Register the module globally, so feature modules inject JobsService without importing it.
   * Default `true`, as `TypeOrmModule.forRoot`; `false` exports it only to the importing module.
   */
  isGlobal?: boolean;
  /** Name of the TypeORM data source to use, as given to `TypeOrmModule.forRoot({ name })`. */
  dataSource?: string;
}

/** The options with every default applied. */
export interface ResolvedJobsOptions {
  runner: boolean;
  pollInterval: number;
  concurrency: number;
  batchSize: number;
  prefetch: number;
  notify: boolean;
  asyncClaimCommit: boolean;
  queues: string[] | null;
  lease: number;
  shutdownTimeout: number;
  maxAttempts: number;
  backoff: BackoffOption;
  maxBackoff: number;
  /** Default run time limit in ms; 0 for none. */
  timeout: number;
  /** Milliseconds to keep finished jobs per status; null keeps them. */
  retention: Record<'succeeded' | 'failed' | 'cancelled', number | null>;
  maxPayloadSize: number;
  /** The `kinds` option, with the defaults of those given by reference. */
  kinds: Array<{ name: string; defaults: JobKindDefaults }>;
  schema: 'auto' | 'migrations';
  telemetry: boolean;
}
