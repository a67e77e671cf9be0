#!/usr/bin/env node
// How long a cancel takes to reach a running handler in another process: for each backend, one
// worker process (test/support/run-control-worker.mjs, a Nest app on the built package, every
// JobsModule option at its default) runs a job whose handler blocks until its signal aborts; this
// process (JobsModule with `runner: false`) cancels it, N times one after another. The delay is
// from `cancel()` returning (and, beside it, from `cancel()` being called) to the moment the
// handler's abort listener ran, both read from CLOCK_MONOTONIC (one machine, so the processes'
// clocks agree). Not part of `npm test`; the figures go to docs/reliability.md.
//
//   node bench/cancel-latency.mjs                      # every backend, N = 20
//   BENCH_CANCEL_N=50 BENCH_CANCEL_BACKENDS=postgres node bench/cancel-latency.mjs
//
// Backends: sqlite, postgres, mariadb, and postgres-poll (PostgreSQL with `notify: false`, so
// cancels arrive by the per-poll check as on the others). Not run unless named: postgres-mixed
// (the cancelling app alone has `notify: false`: no NOTIFY is sent, and the listening worker finds
// the cancel at its next lease renewal, every lease / 3). Databases: `bench_cancel` on each server
// (dropped and created: never anyone else's; BENCH_CANCEL_DATABASE renames it) and a SQLite file
// in the temp directory. Needs dist/ built (npm run build).
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataSource } from 'typeorm';
import { JobsModule, JobsService } from '../dist/index.js';
import { clock, median, percentile, sleep } from './src/stats.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORKER = join(ROOT, 'test/support/run-control-worker.mjs');
const N = Number(process.env.BENCH_CANCEL_N ?? 20);
const BACKENDS = (process.env.BENCH_CANCEL_BACKENDS ?? 'postgres,postgres-poll,mariadb,sqlite')
  .split(',')
  .filter(Boolean);
const DATABASE = process.env.BENCH_CANCEL_DATABASE ?? 'bench_cancel';
const PG = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432';
const MY = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
/** The module's default poll interval, which the MariaDB and SQLite workers keep. */
const DEFAULT_POLL = 1_000;
const DELIVERY = {
  postgres: 'NOTIFY',
  'postgres-poll': `check each poll (${DEFAULT_POLL} ms)`,
  'postgres-mixed': 'lease renewal (every 10 s)',
  mariadb: `check each poll (${DEFAULT_POLL} ms)`,
  sqlite: `check each poll (${DEFAULT_POLL} ms)`,
};

/** Drops and creates the benchmark's database on a server; returns TypeORM options for it. */
async function serverDatabase(type, base) {
  const admin = new DataSource({ type, url: base });
  await admin.initialize();
  try {
    await admin.query(
      type === 'postgres'
        ? `DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`
        : `DROP DATABASE IF EXISTS ${DATABASE}`,
    );
    await admin.query(
      `CREATE DATABASE ${DATABASE}${type === 'postgres' ? '' : ' CHARACTER SET utf8mb4'}`,
    );
  } finally {
    await admin.destroy();
  }
  return {
    type,
    url: `${base}/${DATABASE}`,
    ...(type === 'mariadb' ? { charset: 'utf8mb4' } : {}),
  };
}

async function setUp(backend) {
  switch (backend) {
    case 'postgres':
      return { database: await serverDatabase('postgres', PG), worker: {} };
    case 'postgres-poll':
      return { database: await serverDatabase('postgres', PG), worker: { notify: false } };
    case 'postgres-mixed':
      return {
        database: await serverDatabase('postgres', PG),
        worker: {},
        controller: { notify: false },
      };
    case 'mariadb':
      return { database: await serverDatabase('mariadb', MY), worker: {} };
    case 'sqlite': {
      const dir = mkdtempSync(join(tmpdir(), 'jobs-cancel-bench-'));
      return {
        database: {
          type: 'better-sqlite3',
          database: join(dir, 'jobs.db'),
          enableWAL: true,
          timeout: 10_000,
        },
        worker: {},
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    }
    default:
      throw new Error(`unknown backend ${backend}`);
  }
}

/** The cancelling app: no runner, it only enqueues and cancels (and creates the tables). */
async function controller(database, options = {}) {
  class ControllerModule {}
  Reflect.decorate(
    [
      Module({
        imports: [
          TypeOrmModule.forRoot({ ...database, autoLoadEntities: true, synchronize: false }),
          JobsModule.forRoot({
            runner: false,
            kinds: ['control.hold', 'control.quick'],
            ...options,
          }),
        ],
      }),
    ],
    ControllerModule,
  );
  return NestFactory.createApplicationContext(ControllerModule, { logger: ['error', 'fatal'] });
}

/** The worker process and the records it prints (`RC <json>` lines). */
function startWorker(database, jobs) {
  const child = spawn(
    process.execPath,
    [WORKER, JSON.stringify({ name: 'bench', database, jobs })],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, NO_COLOR: '1' } },
  );
  const records = [];
  let waiting = [];
  let buffered = '';
  child.stdout.on('data', (chunk) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop();
    for (const line of lines) {
      if (!line.startsWith('RC ')) continue;
      records.push(JSON.parse(line.slice(3)));
      waiting = waiting.filter((w) => !w());
    }
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    child,
    exited,
    /** The first record matching `wanted`, once it arrives (at most `timeout` ms). */
    record(wanted, timeout = 30_000) {
      const matches = (r) => Object.entries(wanted).every(([k, v]) => r[k] === v);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no record ${JSON.stringify(wanted)} in ${timeout} ms`)),
          timeout,
        );
        const check = () => {
          const found = records.find(matches);
          if (found) {
            clearTimeout(timer);
            resolve(found);
          }
          return Boolean(found);
        };
        if (!check()) waiting.push(check);
      });
    },
  };
}

function summary(values) {
  const round = (v) => Math.round(v * 10) / 10;
  return {
    median: round(median(values)),
    p95: round(percentile(values, 95)),
    max: round(Math.max(...values)),
  };
}

async function measure(backend) {
  const { database, worker: workerOptions, controller: options, cleanup } = await setUp(backend);
  const app = await controller(database, options);
  const jobs = app.get(JobsService);
  const worker = startWorker(database, workerOptions);
  const fromReturn = [];
  const fromCall = [];
  try {
    await worker.record({ e: 'ready' }, 120_000);
    for (let i = 0; i < N; i++) {
      const { id } = await jobs.enqueue('control.hold', {});
      await worker.record({ e: 'start', job: id });
      // A random moment in the poll cycle, so the per-poll check is sampled at every phase.
      await sleep(Math.random() * DEFAULT_POLL);
      const called = clock();
      if (!(await jobs.cancel(id))) throw new Error(`job ${id} was not cancelled`);
      const returned = clock();
      const abort = await worker.record({ e: 'aborted', job: id });
      if (abort.reason !== 'JobCancelledError') {
        throw new Error(`job ${id} aborted with ${abort.reason}, not JobCancelledError`);
      }
      fromReturn.push(abort.mono - returned);
      fromCall.push(abort.mono - called);
    }
  } finally {
    worker.child.kill('SIGTERM');
    await worker.exited;
    await app.close();
    cleanup?.();
  }
  return { backend, n: N, fromReturn: summary(fromReturn), fromCall: summary(fromCall) };
}

const rows = [];
const load = loadavg()[0].toFixed(1);
for (const backend of BACKENDS) {
  const row = await measure(backend);
  rows.push(row);
  console.log(JSON.stringify(row));
}

const ms = (v) => `${v} ms`;
console.log(
  `\nCancel to abort, N = ${N} per backend, ${cpus().length} cores, load ${load} at start, Node ${process.version}`,
);
console.log(
  '| backend | delivery | from cancel() returning: median | p95 | max | from cancel() called: median | p95 | max |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const row of rows) {
  const delivery = DELIVERY[row.backend];
  const r = row.fromReturn;
  const c = row.fromCall;
  console.log(
    `| ${row.backend} | ${delivery} | ${ms(r.median)} | ${ms(r.p95)} | ${ms(r.max)} | ${ms(c.median)} | ${ms(c.p95)} | ${ms(c.max)} |`,
  );
}
process.exit(0);
