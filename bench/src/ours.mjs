// nestjs-typeorm-jobs as a user runs it: a Nest application context with TypeOrmModule and
// JobsModule, a provider with one @JobKind handler, the library imported from the built package
// (../../dist/index.js, or the baseline's build given as `dist`).
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { typeormOptions } from './backends.mjs';

/** The library as this tree builds it, or the commit BENCH_OURS names, built apart by run.mjs. */
export const OUR_DIST =
  process.env.BENCH_OURS_DIST ?? fileURLToPath(new URL('../../dist/index.js', import.meta.url));
const libraries = new Map();
/** The library built at `dist` (a path to its index.js), loaded once per process. */
function library(dist = OUR_DIST) {
  if (!libraries.has(dist)) libraries.set(dist, import(pathToFileURL(dist).href));
  return libraries.get(dist);
}

/**
 * BENCH_OTEL=1: an OpenTelemetry SDK registered in every process before its app starts, as an app
 * that traces would (AsyncLocalStorage context, a tracer provider with a batch span processor, a
 * meter provider with a periodic reader), with exporters that drop everything: what the module's
 * spans and metrics cost, not what shipping them costs. The SDK packages are the repository's dev
 * dependencies.
 */
let otel;
function registerOtel() {
  otel ??= (async () => {
    const { context, metrics, trace, ROOT_CONTEXT } = await import('@opentelemetry/api');
    const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
    const { BasicTracerProvider, BatchSpanProcessor } =
      await import('@opentelemetry/sdk-trace-base');
    const { MeterProvider, PeriodicExportingMetricReader } =
      await import('@opentelemetry/sdk-metrics');
    const drop = {
      export: (_items, done) => done({ code: 0 }),
      forceFlush: async () => undefined,
      shutdown: async () => undefined,
    };
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    // Node turns AsyncLocalStorage's promise hooks on at its first run(), and from then on every
    // promise of the process pays for them. An app's HTTP or database instrumentation does that at
    // once; here, so that the baseline's runs (a library that never calls context.with) pay it too
    // and ours ÷ base is what the module's spans and metrics cost.
    context.with(ROOT_CONTEXT.setValue(Symbol('bench'), true), () => undefined);
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(drop)] }),
    );
    metrics.setGlobalMeterProvider(
      new MeterProvider({
        readers: [
          new PeriodicExportingMetricReader({ exporter: drop, exportIntervalMillis: 10_000 }),
        ],
      }),
    );
  })();
  return otel;
}

export const KIND = 'bench.noop';
const FAR_FUTURE = 4_102_444_800_000; // 2100-01-01: preloaded jobs wait until the run makes them due.

/** The app's own table the `tx` and `direct` handlers write one row to per run. */
export const EFFECTS_TABLE = 'bench_effects';

export function createEffectsTable(db) {
  return db.query(
    `CREATE TABLE IF NOT EXISTS ${EFFECTS_TABLE} (job_id BIGINT PRIMARY KEY, done_at BIGINT NOT NULL)`,
  );
}

function effectInsert(backend) {
  return backend === 'postgres'
    ? `INSERT INTO ${EFFECTS_TABLE} (job_id, done_at) VALUES ($1, $2)`
    : `INSERT INTO ${EFFECTS_TABLE} (job_id, done_at) VALUES (?, ?)`;
}

/**
 * What the handler does after `onStart(ctx)`, as a user would write it. `noop`: nothing (every
 * row but the feature rows). `progress`: `await job.progress(50)`. `direct`: one INSERT into the
 * app's table through the injected DataSource. `tx`: the same INSERT in `job.transaction()`, so
 * the row and the job's success commit together.
 */
function handlerBody(work, backend, onStart) {
  const insert = effectInsert(backend);
  switch (work ?? 'noop') {
    case 'noop':
      return function run(ctx) {
        onStart(ctx);
      };
    case 'progress':
      return async function run(ctx) {
        onStart(ctx);
        await ctx.progress(50);
      };
    case 'direct':
      return async function run(ctx) {
        onStart(ctx);
        await this.dataSource.query(insert, [ctx.id, Date.now()]);
      };
    case 'tx':
      return async function run(ctx) {
        onStart(ctx);
        await ctx.transaction(async (manager) => {
          await manager.query(insert, [ctx.id, Date.now()]);
        });
      };
    default:
      throw new Error(`unknown handler work ${work}`);
  }
}

/**
 * Starts an app. `onStart(ctx)` is called when a handler starts; `work` is what the handler does
 * then (see handlerBody). `runner: false` gives an instance that only enqueues. `dist`: the build
 * of the library to load (default: this tree's dist/). `kindOptions`: the options of the handler's
 * `@JobKind(KIND, options)` (the limit rows declare `concurrency` or `group` there).
 */
export async function startOurs({
  backend,
  variant,
  jobs = {},
  onStart = () => undefined,
  work = 'noop',
  synchronize = false,
  dist = OUR_DIST,
  kindOptions = undefined,
}) {
  if (process.env.BENCH_OTEL === '1') await registerOtel();
  const { JobsModule, JobsService, JobKind } = await library(dist);
  class NoopJobs {
    constructor(dataSource) {
      this.dataSource = dataSource;
    }
  }
  NoopJobs.prototype.run = handlerBody(work, backend, onStart);
  // What TypeScript's emitDecoratorMetadata writes for `constructor(dataSource: DataSource)`.
  Reflect.defineMetadata('design:paramtypes', [DataSource], NoopJobs);
  Reflect.decorate(
    [kindOptions ? JobKind(KIND, kindOptions) : JobKind(KIND)],
    NoopJobs.prototype,
    'run',
    Object.getOwnPropertyDescriptor(NoopJobs.prototype, 'run'),
  );
  const BenchAppModule = appModule({
    backend,
    variant,
    synchronize,
    imports: [JobsModule.forRoot(jobs)],
    providers: [NoopJobs],
  });
  const app = await NestFactory.createApplicationContext(BenchAppModule, { logger: ['error'] });
  const service = app.get(JobsService);
  return { app, service, close: () => app.close() };
}

/**
 * A Nest application context with TypeOrmModule on this backend and nothing else: the app a Nest
 * user runs a queue library in. The RSS rows start graphile-worker inside one (`shell: 'nest'`),
 * so its worker carries what ours carries besides the queue.
 */
export async function startAppShell({ backend, variant }) {
  const app = await NestFactory.createApplicationContext(appModule({ backend, variant }), {
    logger: ['error'],
  });
  return { close: () => app.close() };
}

/** A Nest module with TypeOrmModule on this backend (as a user configures it), and `imports`. */
function appModule({ backend, variant, synchronize = false, imports = [], providers = [] }) {
  class BenchAppModule {}
  Reflect.decorate(
    [
      Module({
        imports: [
          TypeOrmModule.forRoot({
            ...typeormOptions(backend, variant),
            autoLoadEntities: true,
            synchronize,
            retryAttempts: 0,
          }),
          ...imports,
        ],
        providers,
      }),
    ],
    BenchAppModule,
  );
  return BenchAppModule;
}

/**
 * Flow control's own tables (issue 14): the starts the rate limits count and when each group was
 * last served. Emptied with the jobs, so no trial inherits another's groups; a baseline from before
 * flow control has neither (its reset skips them).
 */
const FLOW_CONTROL_TABLES = ['nest_job_starts', 'nest_job_groups'];

/** The harness's view of our tables (through its own connection). */
export const oursTables = {
  /** `floor`: the id of the last row a kept variant was prefilled with (history, delayed), kept. */
  async reset(db, floor) {
    for (const table of FLOW_CONTROL_TABLES) {
      await db.query(`DELETE FROM ${table}`).catch(() => undefined);
    }
    if (floor) {
      await db.query('DELETE FROM nest_jobs WHERE id > ?', [floor]);
      if (db.backend === 'postgres') await db.query('VACUUM ANALYZE nest_jobs');
    } else if (db.backend === 'sqlite') {
      await db.query('DELETE FROM nest_jobs');
    } else {
      await db.query(db.backend === 'postgres' ? 'TRUNCATE nest_jobs' : 'DELETE FROM nest_jobs');
    }
  },
  makeDue(db, floor = 0) {
    return db.query(`UPDATE nest_jobs SET run_at = ? WHERE status = 'pending' AND id > ?`, [
      Date.now(),
      floor,
    ]);
  },
  async remaining(db, floor = 0) {
    const [row] = await db.query(
      `SELECT COUNT(*) AS n FROM nest_jobs WHERE status IN ('pending', 'running') AND id > ?`,
      [floor],
    );
    return Number(row.n);
  },
};

/**
 * Specs of `count` jobs due in the far future (made due at once by `makeDue`), numbered from
 * `from`. With `groups`, job i is in group `g<i mod groups>`: every group gets as many jobs, spread
 * through the backlog.
 */
export function futureSpecs(count, { from = 0, groups = 0 } = {}) {
  const runAt = new Date(FAR_FUTURE);
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    return groups > 0
      ? { kind: KIND, data: { i }, runAt, group: `g${i % groups}` }
      : { kind: KIND, data: { i }, runAt };
  });
}

/** Pre-enqueues `count` jobs through the public API, 1,000 per `enqueueMany` (`groups`: see futureSpecs). */
export async function preloadOurs(service, count, groups = 0) {
  for (let i = 0; i < count; i += 1000)
    await service.enqueueMany(futureSpecs(Math.min(1000, count - i), { from: i, groups }));
}

export async function enqueueOneAtATime(service, count, inFlight) {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      await service.enqueue(KIND, { i: next });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

export async function enqueueBatches(service, count, size) {
  for (let i = 0; i < count; i += size) {
    const n = Math.min(size, count - i);
    await service.enqueueMany(
      Array.from({ length: n }, (_, k) => ({ kind: KIND, data: { i: i + k } })),
    );
  }
}
