/**
 * The SQL of the first schema (JobsSchema1795478400000), one list per dialect, as TypeORM's own
 * schema builder writes it for lib/entities/ on an empty database (`driver.createSchemaBuilder().log()`),
 * reordered to read top-down. Constraint names are TypeORM's, so that after this migration TypeORM
 * sees no difference between the tables and the entities. test/migrations.spec.ts checks exactly that.
 * `IF NOT EXISTS` lets a run cut short be run again: MySQL commits each DDL statement on its own.
 */
export interface SchemaSql {
  up: string[];
  down: string[];
}

export const postgresSchema: SchemaSql = {
  up: [
    `CREATE TABLE IF NOT EXISTS "nest_job_kinds" (
      "id" SERIAL NOT NULL,
      "name" character varying(200) NOT NULL,
      "created" bigint NOT NULL,
      "modified" bigint NOT NULL,
      CONSTRAINT "UQ_d188bd7f1c69910d30dd15a7984" UNIQUE ("name"),
      CONSTRAINT "PK_fe04b4553aaab19f875ee7c6c1e" PRIMARY KEY ("id")
    )`,
    `CREATE TABLE IF NOT EXISTS "nest_jobs" (
      "id" SERIAL NOT NULL,
      "kind" character varying(200) NOT NULL,
      "kind_id" integer,
      "queue" character varying(100) NOT NULL DEFAULT 'default',
      "data" json,
      "status" character varying(16) NOT NULL,
      "active" boolean NOT NULL DEFAULT true,
      "periodic" boolean NOT NULL DEFAULT false,
      "schedule" character varying(300),
      "interval_ms" bigint,
      "failed" boolean NOT NULL DEFAULT false,
      "priority" integer NOT NULL DEFAULT '0',
      "run_at" bigint NOT NULL,
      "attempts" integer NOT NULL DEFAULT '0',
      "max_attempts" integer NOT NULL,
      "created" bigint NOT NULL,
      "last_run" bigint,
      "finished_at" bigint,
      "locked_by" character varying(120),
      "locked_until" bigint,
      "last_error" text,
      "logs" text,
      "result" json,
      "unique_key" character varying(255),
      "active_key" character varying(255),
      CONSTRAINT "UQ_2cb0a14f5eff443c0d9003d87a1" UNIQUE ("active_key"),
      CONSTRAINT "PK_6c8d0179d499dcb79f0fb833da7" PRIMARY KEY ("id")
    )`,
    `CREATE INDEX IF NOT EXISTS "idx_nest_jobs_due" ON "nest_jobs" ("status", "priority", "run_at", "id")`,
    `CREATE INDEX IF NOT EXISTS "idx_nest_jobs_kind" ON "nest_jobs" ("kind", "status")`,
    `CREATE INDEX IF NOT EXISTS "idx_nest_jobs_finished" ON "nest_jobs" ("status", "finished_at")`,
  ],
  // Dropping a table drops its indexes and constraints.
  down: [`DROP TABLE "nest_jobs"`, `DROP TABLE "nest_job_kinds"`],
};

/** MySQL 8 and MariaDB 10.5+ (TypeORM types 'mysql' and 'mariadb'). */
export const mysqlSchema: SchemaSql = {
  up: [
    `CREATE TABLE IF NOT EXISTS \`nest_job_kinds\` (
      \`id\` int NOT NULL AUTO_INCREMENT,
      \`name\` varchar(200) NOT NULL,
      \`created\` bigint NOT NULL,
      \`modified\` bigint NOT NULL,
      UNIQUE INDEX \`IDX_d188bd7f1c69910d30dd15a798\` (\`name\`),
      PRIMARY KEY (\`id\`)
    ) ENGINE=InnoDB`,
    `CREATE TABLE IF NOT EXISTS \`nest_jobs\` (
      \`id\` int NOT NULL AUTO_INCREMENT,
      \`kind\` varchar(200) NOT NULL,
      \`kind_id\` int NULL,
      \`queue\` varchar(100) NOT NULL DEFAULT 'default',
      \`data\` json NULL,
      \`status\` varchar(16) NOT NULL,
      \`active\` tinyint NOT NULL DEFAULT 1,
      \`periodic\` tinyint NOT NULL DEFAULT 0,
      \`schedule\` varchar(300) NULL,
      \`interval_ms\` bigint NULL,
      \`failed\` tinyint NOT NULL DEFAULT 0,
      \`priority\` int NOT NULL DEFAULT '0',
      \`run_at\` bigint NOT NULL,
      \`attempts\` int NOT NULL DEFAULT '0',
      \`max_attempts\` int NOT NULL,
      \`created\` bigint NOT NULL,
      \`last_run\` bigint NULL,
      \`finished_at\` bigint NULL,
      \`locked_by\` varchar(120) NULL,
      \`locked_until\` bigint NULL,
      \`last_error\` text NULL,
      \`logs\` text NULL,
      \`result\` json NULL,
      \`unique_key\` varchar(255) NULL,
      \`active_key\` varchar(255) NULL,
      INDEX \`idx_nest_jobs_due\` (\`status\`, \`priority\`, \`run_at\`, \`id\`),
      INDEX \`idx_nest_jobs_kind\` (\`kind\`, \`status\`),
      INDEX \`idx_nest_jobs_finished\` (\`status\`, \`finished_at\`),
      UNIQUE INDEX \`IDX_2cb0a14f5eff443c0d9003d87a\` (\`active_key\`),
      PRIMARY KEY (\`id\`)
    ) ENGINE=InnoDB`,
  ],
  down: ['DROP TABLE `nest_jobs`', 'DROP TABLE `nest_job_kinds`'],
};

/**
 * SQLite (better-sqlite3). `kind_id` has no foreign key on any database: the kind's name is the key
 * the runner uses, kinds are never deleted, and the key's check cost every insert and update a
 * lookup and a lock on the kind's row (20 % of a 1,000-row insert on PostgreSQL).
 */
export const sqliteSchema: SchemaSql = {
  up: [
    `CREATE TABLE IF NOT EXISTS "nest_job_kinds" (
      "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
      "name" varchar(200) NOT NULL,
      "created" bigint NOT NULL,
      "modified" bigint NOT NULL,
      CONSTRAINT "UQ_d188bd7f1c69910d30dd15a7984" UNIQUE ("name")
    )`,
    `CREATE TABLE IF NOT EXISTS "nest_jobs" (
      "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
      "kind" varchar(200) NOT NULL,
      "kind_id" integer,
      "queue" varchar(100) NOT NULL DEFAULT ('default'),
      "data" json,
      "status" varchar(16) NOT NULL,
      "active" boolean NOT NULL DEFAULT (1),
      "periodic" boolean NOT NULL DEFAULT (0),
      "schedule" varchar(300),
      "interval_ms" bigint,
      "failed" boolean NOT NULL DEFAULT (0),
      "priority" integer NOT NULL DEFAULT (0),
      "run_at" bigint NOT NULL,
      "attempts" integer NOT NULL DEFAULT (0),
      "max_attempts" integer NOT NULL,
      "created" bigint NOT NULL,
      "last_run" bigint,
      "finished_at" bigint,
      "locked_by" varchar(120),
      "locked_until" bigint,
      "last_error" text,
      "logs" text,
      "result" json,
      "unique_key" varchar(255),
      "active_key" varchar(255),
      CONSTRAINT "UQ_2cb0a14f5eff443c0d9003d87a1" UNIQUE ("active_key")
    )`,
    `CREATE INDEX IF NOT EXISTS "idx_nest_jobs_due" ON "nest_jobs" ("status", "priority", "run_at", "id")`,
    `CREATE INDEX IF NOT EXISTS "idx_nest_jobs_kind" ON "nest_jobs" ("kind", "status")`,
    `CREATE INDEX IF NOT EXISTS "idx_nest_jobs_finished" ON "nest_jobs" ("status", "finished_at")`,
  ],
  down: [`DROP TABLE "nest_jobs"`, `DROP TABLE "nest_job_kinds"`],
};

/**
 * The SQL of JobsRunOptions1796169600000: the `timeout` and `backoff` a job can be given at enqueue,
 * as TypeORM's schema builder writes them. MySQL takes both columns in one statement (its DDL is not
 * transactional: one statement is all or nothing); elsewhere the step runs in a transaction.
 */
export const runOptionsSql: Record<'postgres' | 'mysql' | 'sqlite', SchemaSql> = {
  postgres: {
    up: [
      `ALTER TABLE "nest_jobs" ADD "timeout_ms" integer`,
      `ALTER TABLE "nest_jobs" ADD "backoff" character varying(100)`,
    ],
    down: [
      `ALTER TABLE "nest_jobs" DROP COLUMN "backoff"`,
      `ALTER TABLE "nest_jobs" DROP COLUMN "timeout_ms"`,
    ],
  },
  mysql: {
    up: ['ALTER TABLE `nest_jobs` ADD `timeout_ms` int NULL, ADD `backoff` varchar(100) NULL'],
    down: ['ALTER TABLE `nest_jobs` DROP COLUMN `backoff`, DROP COLUMN `timeout_ms`'],
  },
  sqlite: {
    up: [
      `ALTER TABLE "nest_jobs" ADD COLUMN "timeout_ms" integer`,
      `ALTER TABLE "nest_jobs" ADD COLUMN "backoff" varchar(100)`,
    ],
    down: [
      `ALTER TABLE "nest_jobs" DROP COLUMN "backoff"`,
      `ALTER TABLE "nest_jobs" DROP COLUMN "timeout_ms"`,
    ],
  },
};

/**
 * The SQL of JobsKindHandlers1796774400000: `nest_job_kinds.handled_at`, when an instance with a
 * handler for the kind last said so (at startup and about once a minute while its runner runs), so
 * jobs of a kind that no running instance handles any more can be told apart.
 */
export const kindHandlersSql: Record<'postgres' | 'mysql' | 'sqlite', SchemaSql> = {
  postgres: {
    up: [`ALTER TABLE "nest_job_kinds" ADD "handled_at" bigint`],
    down: [`ALTER TABLE "nest_job_kinds" DROP COLUMN "handled_at"`],
  },
  mysql: {
    up: ['ALTER TABLE `nest_job_kinds` ADD `handled_at` bigint NULL'],
    down: ['ALTER TABLE `nest_job_kinds` DROP COLUMN `handled_at`'],
  },
  sqlite: {
    up: [`ALTER TABLE "nest_job_kinds" ADD COLUMN "handled_at" bigint`],
    down: [`ALTER TABLE "nest_job_kinds" DROP COLUMN "handled_at"`],
  },
};

/**
 * The SQL of JobsRunControl1797984000000: `nest_jobs.progress`, the last value a running handler
 * reported (`job.progress()`), and `nest_jobs.awaited`, set while some instance waits for the job's
 * end (`waitFor`), so that on PostgreSQL the runner that finishes it sends a NOTIFY for it alone.
 */
export const runControlSql: Record<'postgres' | 'mysql' | 'sqlite', SchemaSql> = {
  postgres: {
    up: [
      `ALTER TABLE "nest_jobs" ADD "progress" json`,
      `ALTER TABLE "nest_jobs" ADD "awaited" boolean NOT NULL DEFAULT false`,
    ],
    down: [
      `ALTER TABLE "nest_jobs" DROP COLUMN "awaited"`,
      `ALTER TABLE "nest_jobs" DROP COLUMN "progress"`,
    ],
  },
  mysql: {
    up: [
      'ALTER TABLE `nest_jobs` ADD `progress` json NULL, ADD `awaited` tinyint NOT NULL DEFAULT 0',
    ],
    down: ['ALTER TABLE `nest_jobs` DROP COLUMN `awaited`, DROP COLUMN `progress`'],
  },
  sqlite: {
    up: [
      `ALTER TABLE "nest_jobs" ADD COLUMN "progress" json`,
      `ALTER TABLE "nest_jobs" ADD COLUMN "awaited" boolean NOT NULL DEFAULT (0)`,
    ],
    down: [
      `ALTER TABLE "nest_jobs" DROP COLUMN "awaited"`,
      `ALTER TABLE "nest_jobs" DROP COLUMN "progress"`,
    ],
  },
};

/**
 * The SQL of JobsQueues1798588800000: `nest_job_queues`, a row per queue that has a state of its
 * own: `paused` (no instance starts its jobs; see `JobsService.pauseQueue`). Read by every claim.
 */
export const queuesSql: Record<'postgres' | 'mysql' | 'sqlite', SchemaSql> = {
  postgres: {
    up: [
      `CREATE TABLE IF NOT EXISTS "nest_job_queues" (
        "name" character varying(100) NOT NULL,
        "paused" boolean NOT NULL DEFAULT false,
        "modified" bigint NOT NULL,
        CONSTRAINT "PK_nest_job_queues" PRIMARY KEY ("name")
      )`,
    ],
    down: [`DROP TABLE "nest_job_queues"`],
  },
  mysql: {
    up: [
      'CREATE TABLE IF NOT EXISTS `nest_job_queues` (`name` varchar(100) NOT NULL, `paused` tinyint NOT NULL DEFAULT 0, `modified` bigint NOT NULL, PRIMARY KEY (`name`)) ENGINE=InnoDB',
    ],
    down: ['DROP TABLE `nest_job_queues`'],
  },
  sqlite: {
    up: [
      `CREATE TABLE IF NOT EXISTS "nest_job_queues" ("name" varchar(100) PRIMARY KEY NOT NULL, "paused" boolean NOT NULL DEFAULT (0), "modified" bigint NOT NULL)`,
    ],
    down: [`DROP TABLE "nest_job_queues"`],
  },
};

/** The flow control step in the SQL PostgreSQL and SQLite both take (double quotes, varchar). */
const quotedFlowControl: SchemaSql = {
  up: [
    `ALTER TABLE "nest_jobs" ADD COLUMN "group_key" varchar(200)`,
    `ALTER TABLE "nest_job_kinds" ADD COLUMN "limits" text`,
    `CREATE TABLE IF NOT EXISTS "nest_job_starts" ("kind" varchar(200) NOT NULL, "group_key" varchar(200) NOT NULL, "at" bigint NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS "idx_nest_job_starts" ON "nest_job_starts" ("kind", "at")`,
    `CREATE TABLE IF NOT EXISTS "nest_job_groups" ("kind" varchar(200) NOT NULL, "group_key" varchar(200) NOT NULL, "last_start" bigint NOT NULL, PRIMARY KEY ("kind", "group_key"))`,
  ],
  down: [
    `DROP TABLE "nest_job_groups"`,
    `DROP TABLE "nest_job_starts"`,
    `ALTER TABLE "nest_job_kinds" DROP COLUMN "limits"`,
    `ALTER TABLE "nest_jobs" DROP COLUMN "group_key"`,
  ],
};

/**
 * The SQL of JobsFlowControl1799452800000: `nest_jobs.group_key` (the `group` a job was enqueued
 * with, for per-group limits), `nest_job_kinds.limits` (the limits the code of a kind declares, as
 * JSON, written at startup for the dashboard and `list()`), and `nest_job_starts`, one row per start
 * of a rate-limited kind (`group_key` '' for the kind's own limit), read by the limited claim as a
 * sliding window and pruned by it.
 */
export const flowControlSql: Record<'postgres' | 'mysql' | 'sqlite', SchemaSql> = {
  postgres: quotedFlowControl,
  mysql: {
    up: [
      'ALTER TABLE `nest_jobs` ADD `group_key` varchar(200) NULL',
      'ALTER TABLE `nest_job_kinds` ADD `limits` text NULL',
      'CREATE TABLE IF NOT EXISTS `nest_job_starts` (`kind` varchar(200) NOT NULL, `group_key` varchar(200) NOT NULL, `at` bigint NOT NULL, INDEX `idx_nest_job_starts` (`kind`, `at`)) ENGINE=InnoDB',
      'CREATE TABLE IF NOT EXISTS `nest_job_groups` (`kind` varchar(200) NOT NULL, `group_key` varchar(200) NOT NULL, `last_start` bigint NOT NULL, PRIMARY KEY (`kind`, `group_key`)) ENGINE=InnoDB',
    ],
    down: [
      'DROP TABLE `nest_job_groups`',
      'DROP TABLE `nest_job_starts`',
      'ALTER TABLE `nest_job_kinds` DROP COLUMN `limits`',
      'ALTER TABLE `nest_jobs` DROP COLUMN `group_key`',
    ],
  },
  sqlite: quotedFlowControl,
};

const quotedKindPermits: SchemaSql = {
  up: [
    `CREATE TABLE IF NOT EXISTS "nest_job_permits" ("kind" varchar(200) NOT NULL, "owner" varchar(120) NOT NULL, "permits" integer NOT NULL, "held_until" bigint NOT NULL, PRIMARY KEY ("kind", "owner"))`,
  ],
  down: [`DROP TABLE "nest_job_permits"`],
};

/**
 * The SQL of JobsKindPermits1800057600000: `nest_job_permits`, how many slots of a kind's
 * cluster-wide `concurrency` each instance holds, and until when (its lease): an instance claims
 * jobs of such a kind up to the slots it holds, without a lock (lib/limits/kind-permits.ts).
 */
export const kindPermitsSql: Record<'postgres' | 'mysql' | 'sqlite', SchemaSql> = {
  postgres: quotedKindPermits,
  mysql: {
    up: [
      'CREATE TABLE IF NOT EXISTS `nest_job_permits` (`kind` varchar(200) NOT NULL, `owner` varchar(120) NOT NULL, `permits` int NOT NULL, `held_until` bigint NOT NULL, PRIMARY KEY (`kind`, `owner`)) ENGINE=InnoDB',
    ],
    down: ['DROP TABLE `nest_job_permits`'],
  },
  sqlite: quotedKindPermits,
};

/** The flows step in the SQL PostgreSQL and SQLite both take, but for the batches' id column. */
function quotedFlows(batchId: string, flag: string): SchemaSql {
  return {
    up: [
      `ALTER TABLE "nest_jobs" ADD COLUMN "has_dependents" ${flag}`,
      `ALTER TABLE "nest_jobs" ADD COLUMN "deps_left" integer`,
      `ALTER TABLE "nest_jobs" ADD COLUMN "batch_id" integer`,
      // Partial: a job outside any batch (nearly every job) has no entry, so its status changes
      // cost this index nothing (measured: 0.77x on SQLite's processing with a full (batch_id, status)).
      `CREATE INDEX IF NOT EXISTS "idx_nest_jobs_batch" ON "nest_jobs" ("batch_id") WHERE batch_id IS NOT NULL`,
      `CREATE TABLE IF NOT EXISTS "nest_job_deps" ("job_id" integer NOT NULL, "depends_on" integer NOT NULL, "cancel_on_failure" boolean NOT NULL, "resolved" boolean NOT NULL DEFAULT FALSE, "dep_status" varchar(16), "dependent_done" boolean NOT NULL DEFAULT FALSE, PRIMARY KEY ("job_id", "depends_on"))`,
      `CREATE INDEX IF NOT EXISTS "idx_nest_job_deps_on" ON "nest_job_deps" ("depends_on", "resolved")`,
      `CREATE TABLE IF NOT EXISTS "nest_job_batches" (${batchId}, "total" integer NOT NULL, "created" bigint NOT NULL, "callback" text, "finished_at" bigint, "succeeded" integer, "failed" integer, "cancelled" integer, "callback_job_id" integer)`,
    ],
    down: [
      `DROP TABLE "nest_job_batches"`,
      `DROP TABLE "nest_job_deps"`,
      `DROP INDEX "idx_nest_jobs_batch"`,
      `ALTER TABLE "nest_jobs" DROP COLUMN "batch_id"`,
      `ALTER TABLE "nest_jobs" DROP COLUMN "deps_left"`,
      `ALTER TABLE "nest_jobs" DROP COLUMN "has_dependents"`,
    ],
  };
}

/**
 * The SQL of JobsFlows1800662400000: dependencies and batches (lib/flows/). `nest_jobs` gains
 * `has_dependents` (some job waits or waited on this one: its end is settled, retention keeps it
 * while a dependent may read it), `deps_left` (dependencies not yet ended; null for a job that had
 * none) and `batch_id`; `nest_job_deps` holds one row per dependency, `nest_job_batches` one per batch.
 */
export const flowsSql: Record<'postgres' | 'mysql' | 'sqlite', SchemaSql> = {
  postgres: quotedFlows('"id" SERIAL PRIMARY KEY', 'boolean NOT NULL DEFAULT FALSE'),
  mysql: {
    up: [
      // No partial indexes on MariaDB: on batch_id alone, which a status change never touches.
      'ALTER TABLE `nest_jobs` ADD `has_dependents` tinyint NOT NULL DEFAULT 0, ADD `deps_left` int NULL, ADD `batch_id` int NULL, ADD INDEX `idx_nest_jobs_batch` (`batch_id`)',
      'CREATE TABLE IF NOT EXISTS `nest_job_deps` (`job_id` int NOT NULL, `depends_on` int NOT NULL, `cancel_on_failure` tinyint NOT NULL, `resolved` tinyint NOT NULL DEFAULT 0, `dep_status` varchar(16) NULL, `dependent_done` tinyint NOT NULL DEFAULT 0, PRIMARY KEY (`job_id`, `depends_on`), INDEX `idx_nest_job_deps_on` (`depends_on`, `resolved`)) ENGINE=InnoDB',
      'CREATE TABLE IF NOT EXISTS `nest_job_batches` (`id` int NOT NULL AUTO_INCREMENT, `total` int NOT NULL, `created` bigint NOT NULL, `callback` mediumtext NULL, `finished_at` bigint NULL, `succeeded` int NULL, `failed` int NULL, `cancelled` int NULL, `callback_job_id` int NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB',
    ],
    down: [
      'DROP TABLE `nest_job_batches`',
      'DROP TABLE `nest_job_deps`',
      'ALTER TABLE `nest_jobs` DROP INDEX `idx_nest_jobs_batch`, DROP COLUMN `batch_id`, DROP COLUMN `deps_left`, DROP COLUMN `has_dependents`',
    ],
  },
  sqlite: quotedFlows(
    '"id" integer PRIMARY KEY AUTOINCREMENT NOT NULL',
    'boolean NOT NULL DEFAULT (0)',
  ),
};

const quotedTracing: SchemaSql = {
  up: [`ALTER TABLE "nest_jobs" ADD COLUMN "trace_context" varchar(512)`],
  down: [`ALTER TABLE "nest_jobs" DROP COLUMN "trace_context"`],
};

/**
 * The SQL of JobsTracing1801267200000: `nest_jobs.trace_context`, the W3C trace context of the
 * enqueue (traceparent, then a space and the tracestate if any), which each run's span takes as its
 * parent (lib/telemetry/). Null when no OpenTelemetry SDK traced the enqueue.
 */
export const tracingSql: Record<'postgres' | 'mysql' | 'sqlite', SchemaSql> = {
  postgres: quotedTracing,
  mysql: {
    up: ['ALTER TABLE `nest_jobs` ADD `trace_context` varchar(512) NULL'],
    down: ['ALTER TABLE `nest_jobs` DROP COLUMN `trace_context`'],
  },
  sqlite: quotedTracing,
};

/** The due index of pending jobs only, with its columns in this order (see `pendingDueSql`). */
function quotedPendingDue(columns: string): SchemaSql {
  return {
    up: [
      `DROP INDEX IF EXISTS "idx_nest_jobs_due"`,
      `CREATE INDEX IF NOT EXISTS "idx_nest_jobs_due" ON "nest_jobs" (${columns}) WHERE status = 'pending'`,
    ],
    down: [
      `DROP INDEX IF EXISTS "idx_nest_jobs_due"`,
      `CREATE INDEX IF NOT EXISTS "idx_nest_jobs_due" ON "nest_jobs" ("status", "priority", "run_at", "id")`,
    ],
  };
}

/**
 * The SQL of JobsPendingDueIndex1801872000000: the due index holds pending jobs only (PostgreSQL
 * and SQLite), so a claim (pending to running) and a finish write no entry in it: fewer index
 * entries and WAL per job (bench/RESULTS.md, seventh session). Every read of it is for pending
 * jobs. On PostgreSQL `status` moves last: PostgreSQL takes a condition the index's predicate
 * implies out of the index scan, and a first column left without one would make every read a scan
 * of the whole index (the ranges of lib/storage/due-ranges.ts start at priority). TypeORM compares
 * an index's columns as a set, so the entity's declaration fits both this and MariaDB's (status,
 * priority, run_at, id). MariaDB has no partial indexes: its step changes nothing. On PostgreSQL
 * the index is rebuilt without CONCURRENTLY (a migration runs in a transaction): writes to
 * `nest_jobs` wait for the build, about a second per million pending jobs.
 */
export const pendingDueSql: Record<'postgres' | 'mysql' | 'sqlite', SchemaSql> = {
  postgres: quotedPendingDue('"priority", "run_at", "id", "status"'),
  mysql: { up: [], down: [] },
  // SQLite keeps `status` first: it does not take the implied condition out, and without
  // statistics it would read the ranges between priorities through another index led by status.
  sqlite: quotedPendingDue('"status", "priority", "run_at", "id"'),
};

/** The name of the unique index of active keys on PostgreSQL once JobsPartialActiveKey1802476800000 ran. */
export const PARTIAL_ACTIVE_KEY_INDEX = 'uq_nest_jobs_active_key';
/** The unique constraint on `active_key` it replaces (TypeORM's name for the column's `unique`). */
export const ACTIVE_KEY_CONSTRAINT = 'UQ_2cb0a14f5eff443c0d9003d87a1';

/**
 * The SQL of JobsPartialActiveKey1802476800000 (PostgreSQL): the unique key of active jobs is a
 * partial unique index of the jobs that have one, in place of the unique constraint over every
 * row. A claim and a finish change `status`, so PostgreSQL writes a new entry in each index of the
 * table, and the constraint's index took one for every job, its key null or not; the partial
 * index takes none for a job without a key (nearly all). Measured: WAL per job 1,826 → 1,624
 * bytes, processing c10 1.13x (bench/RESULTS.md, ninth session). The index is made before the
 * constraint goes, so the keys stay unique throughout; it holds only the keyed active jobs, so
 * its build is short. The statements that rely on it (`ON CONFLICT (active_key) WHERE active_key
 * IS NOT NULL`) work with either. SQLite and MariaDB keep their constraint: SQLite drops one only
 * by rebuilding the table, and writes its index only when a statement sets the key (the finish);
 * MariaDB has no partial indexes.
 */
export const partialActiveKeySql: Record<'postgres' | 'mysql' | 'sqlite', SchemaSql> = {
  postgres: {
    up: [
      `CREATE UNIQUE INDEX IF NOT EXISTS "${PARTIAL_ACTIVE_KEY_INDEX}" ON "nest_jobs" ("active_key") WHERE active_key IS NOT NULL`,
      `ALTER TABLE "nest_jobs" DROP CONSTRAINT IF EXISTS "${ACTIVE_KEY_CONSTRAINT}"`,
    ],
    down: [
      `ALTER TABLE "nest_jobs" ADD CONSTRAINT "${ACTIVE_KEY_CONSTRAINT}" UNIQUE ("active_key")`,
      `DROP INDEX IF EXISTS "${PARTIAL_ACTIVE_KEY_INDEX}"`,
    ],
  },
  mysql: { up: [], down: [] },
  sqlite: { up: [], down: [] },
};
