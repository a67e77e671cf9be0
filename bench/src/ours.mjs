// nestjs-typeorm-jobs as a user runs it: a Nest application context with TypeOrmModule and
// JobsModule, a provider with one @JobKind handler, the library imported from the built package.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { typeormOptions } from './backends.mjs';

const lib = await import(new URL('../../dist/index.js', import.meta.url).href);
const { JobsModule, JobsService, JobKind } = lib;

export const KIND = 'bench.noop';
const FAR_FUTURE = 4_102_444_800_000; // 2100-01-01: preloaded jobs wait until the run makes them due.

/**
 * Starts an app. `onStart(ctx)` is called when a handler starts (the no-op job). `runner: false`
 * gives an instance that only enqueues.
 */
export async function startOurs({
  backend,
  variant,
  jobs = {},
  onStart = () => undefined,
  synchronize = false,
}) {
  class NoopJobs {
    run(ctx) {
      onStart(ctx);
    }
  }
  Reflect.decorate(
    [JobKind(KIND)],
    NoopJobs.prototype,
    'run',
    Object.getOwnPropertyDescriptor(NoopJobs.prototype, 'run'),
  );
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
          JobsModule.forRoot(jobs),
        ],
        providers: [NoopJobs],
      }),
    ],
    BenchAppModule,
  );
  const app = await NestFactory.createApplicationContext(BenchAppModule, { logger: ['error'] });
  const service = app.get(JobsService);
  return { app, service, close: () => app.close() };
}

/** The harness's view of our tables (through its own connection). */
export const oursTables = {
  async reset(db, historyMaxId) {
    if (historyMaxId) {
      await db.query('DELETE FROM nest_jobs WHERE id > ?', [historyMaxId]);
      if (db.backend === 'postgres') await db.query('VACUUM ANALYZE nest_jobs');
    } else if (db.backend === 'sqlite') {
      await db.query('DELETE FROM nest_jobs');
    } else {
      await db.query(db.backend === 'postgres' ? 'TRUNCATE nest_jobs' : 'DELETE FROM nest_jobs');
    }
  },
  makeDue(db) {
    return db.query(`UPDATE nest_jobs SET run_at = ? WHERE status = 'pending'`, [Date.now()]);
  },
  async remaining(db) {
    const [row] = await db.query(
      `SELECT COUNT(*) AS n FROM nest_jobs WHERE status IN ('pending', 'running')`,
    );
    return Number(row.n);
  },
};

/** Specs of `count` jobs due in the far future (made due at once by `makeDue`). */
export function futureSpecs(count) {
  const runAt = new Date(FAR_FUTURE);
  return Array.from({ length: count }, (_, i) => ({ kind: KIND, data: { i }, runAt }));
}

/** Pre-enqueues `count` jobs through the public API, 1,000 per `enqueueMany`. */
export async function preloadOurs(service, count) {
  for (let i = 0; i < count; i += 1000)
    await service.enqueueMany(futureSpecs(Math.min(1000, count - i)));
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
