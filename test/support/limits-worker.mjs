#!/usr/bin/env node
// One replica of a user's app whose kinds declare cluster-wide limits, for
// test/limits.processes.spec.ts and test/fault/limits.fault.ts: a Nest application context
// importing TypeOrmModule and JobsModule from the BUILT package (dist/), as a user's app would.
// Plain ESM JavaScript, as test/fault/worker.mjs, so the child needs no TypeScript loader;
// decorators applied by hand.
//
//   node test/support/limits-worker.mjs '<json config>'
//
// Config (FaultRun.start in test/fault/harness.ts writes name, database and runs; the suite the rest):
//   name       label of this replica ("w0", ...)
//   database   TypeORM options
//   runs       file this process appends its run records to (one JSON object per line)
//   jobs       JobsModule.forRoot() options
//   kinds      { [kind]: { options: @JobKind options (the limits), ms: how long a run takes } };
//              a job's data.ms, when given, overrides its kind's
//
// Records, each written synchronously so it survives kill -9 the moment it is written:
//   ready   the app has bootstrapped
//   start   a handler began {job, kind, group, attempt}
//   end     the handler is about to return (its outcome is written after this)
// Every record has t (Date.now()) and mono (CLOCK_MONOTONIC in ms, the same clock in every process
// on the machine, finer than a millisecond: the order of one process's end and another's start).
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobKind } from '../../dist/index.js';
import { runRecorder, startWorkerApp } from './worker-app.mjs';

const config = JSON.parse(process.argv[2] ?? '{}');

const record = runRecorder(config);

class LimitedHandlers {}

/** One handler method per configured kind, decorated as `@JobKind(kind, options)` would. */
for (const [index, [kind, spec]] of Object.entries(config.kinds ?? {}).entries()) {
  const key = `handle${index}`;
  Object.defineProperty(LimitedHandlers.prototype, key, {
    value: async function (job) {
      const run = { job: job.id, kind: job.kind, group: job.group, attempt: job.attempt };
      record('start', run);
      await sleep(job.data?.ms ?? spec.ms ?? 0);
      record('end', run);
    },
    writable: true,
    configurable: true,
  });
  const descriptor = Object.getOwnPropertyDescriptor(LimitedHandlers.prototype, key);
  Reflect.decorate([JobKind(kind, spec.options ?? {})], LimitedHandlers.prototype, key, descriptor);
}
Reflect.decorate([Injectable()], LimitedHandlers);

const app = await startWorkerApp(config, [LimitedHandlers]);
record('ready');
console.log(`FAULT-WORKER-READY ${config.name} pid=${process.pid}`);
