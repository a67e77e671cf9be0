// Group limits on several instances with jobs that take time (README "Flow control", bench/README
// "Group limits on several instances"): PROCS worker processes at concurrency C run GROUPS x PER jobs
// of a kind declared `group: { concurrency: 1 }`, each run sleeping SLEEP ms. Prints the rate
// against the best the slots and groups allow, how many jobs each process ran, and from the rows:
// how long a job held its slot (claimed to finished: the wait in a buffer plus the run) and how long
// a group waited between the end of one job and the claim of its next (median and 90th percentile).
//   node bench/groups-spread.mjs          (after `npm run build`; PostgreSQL on 127.0.0.1:5432)
//   SLEEP=50 GROUPS=50 PER=20 PROCS=4 C=10 ROUNDS=3 node bench/groups-spread.mjs
// (GROUPS is read from BENCH_SPREAD_GROUPS too: in bash, GROUPS=... does not reach the environment.)
// The library is ../dist/index.js, or BENCH_OURS_DIST (a build of another commit, see run.mjs).
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { fork } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { OUR_DIST } from './src/ours.mjs';

const KIND = 'bench.spread';
const SERVER = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432';
const URL_ = `${SERVER}/bench_spread`;
const num = (name, fallback) => Number(process.env[name] ?? fallback);
const SLEEP = num('SLEEP', 50);
const GROUPS = num('BENCH_SPREAD_GROUPS', num('GROUPS', 50));
const PER = num('PER', 20);
const PROCS = num('PROCS', 4);
const C = num('C', 10);
const ROUNDS = num('ROUNDS', 3);
const worker = process.argv[2] === 'worker';

const { JobsModule, JobsService, JobKind } = await import(pathToFileURL(OUR_DIST).href);

let ran = 0;
class SpreadJobs {
  async run() {
    await sleep(SLEEP);
    ran++;
  }
}
const method = Object.getOwnPropertyDescriptor(SpreadJobs.prototype, 'run');
const KIND_OPTIONS = JSON.parse(process.env.KIND_OPTIONS ?? '{"group":{"concurrency":1}}');
Reflect.decorate([JobKind(KIND, KIND_OPTIONS)], SpreadJobs.prototype, 'run', method);
class SpreadApp {}
Reflect.decorate(
  [
    Module({
      imports: [
        TypeOrmModule.forRoot({ type: 'postgres', url: URL_, autoLoadEntities: true }),
        JobsModule.forRoot({ concurrency: C, runner: worker, kinds: [KIND] }),
      ],
      providers: worker ? [SpreadJobs] : [],
    }),
  ],
  SpreadApp,
);
const startApp = () => NestFactory.createApplicationContext(SpreadApp, { logger: ['error'] });

if (worker) {
  const app = await startApp();
  process.on('disconnect', () => process.exit(1)); // the bench ended (or died) first
  process.send('ready');
  process.on('message', async () => {
    process.send({ ran });
    await app.close();
    process.exit(0);
  });
} else {
  const admin = new pg.Client(`${SERVER}/postgres`);
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS bench_spread WITH (FORCE)');
  await admin.query('CREATE DATABASE bench_spread');
  await admin.end();
  const app = await startApp();
  const jobs = app.get(JobsService);
  const db = new pg.Client(URL_);
  await db.connect();
  // Runs at once: every slot, or fewer when the groups' limits allow fewer.
  const perGroup = KIND_OPTIONS.group?.concurrency ?? Infinity;
  const ideal = Math.round((Math.min(GROUPS * perGroup, PROCS * C) * 1000) / SLEEP);
  console.log(
    `${PROCS} processes x c${C}, ${GROUPS} groups x ${PER} jobs of ${SLEEP} ms, kind options ${JSON.stringify(KIND_OPTIONS)}: at best ${ideal} jobs/s`,
  );
  for (let round = 1; round <= ROUNDS; round++) {
    await db.query('DELETE FROM nest_jobs');
    await db.query('DELETE FROM nest_job_groups');
    ran = 0;
    const workers = [];
    for (let i = 0; i < PROCS; i++) {
      const child = fork(fileURLToPath(import.meta.url), ['worker'], { env: process.env });
      await new Promise((resolve) => child.once('message', resolve));
      workers.push(child);
    }
    const specs = [];
    for (let j = 0; j < PER; j++) {
      for (let g = 0; g < GROUPS; g++) specs.push({ kind: KIND, data: { j }, group: `g${g}` });
    }
    const started = Date.now();
    await jobs.enqueueMany(specs);
    for (;;) {
      const { rows } = await db.query(
        `SELECT COUNT(*) AS n FROM nest_jobs WHERE status IN ('pending', 'running')`,
      );
      if (Number(rows[0].n) === 0) break;
      await sleep(20);
    }
    const seconds = (Date.now() - started) / 1000;
    const ranBy = await Promise.all(
      workers.map(
        (child) =>
          new Promise((resolve) => {
            child.once('message', (reply) => resolve(reply.ran));
            child.send('stop');
          }),
      ),
    );
    const { rows } = await db.query(
      `WITH o AS (SELECT last_run, finished_at,
           lag(finished_at) OVER (PARTITION BY group_key ORDER BY last_run) AS previous
         FROM nest_jobs)
       SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY finished_at - last_run) AS held50,
         percentile_cont(0.9) WITHIN GROUP (ORDER BY finished_at - last_run) AS held90,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY last_run - previous) AS gap50,
         percentile_cont(0.9) WITHIN GROUP (ORDER BY last_run - previous) AS gap90
       FROM o WHERE previous IS NOT NULL`,
    );
    const ms = (value) => Math.round(Number(value));
    const rate = Math.round((GROUPS * PER) / seconds);
    console.log(
      `round ${round}: ${rate} jobs/s (${(rate / ideal).toFixed(2)} of the best); ran per process ${ranBy.join(' / ')}; ` +
        `slot held (claimed to finished) p50 ${ms(rows[0].held50)} / p90 ${ms(rows[0].held90)} ms; ` +
        `group idle between its jobs p50 ${ms(rows[0].gap50)} / p90 ${ms(rows[0].gap90)} ms`,
    );
  }
  await db.end();
  await app.close();
  process.exit(0);
}
