#!/usr/bin/env node
// One replica of a user's app running the jobs of flows and batches, for
// test/flows.processes.spec.ts: a Nest application context importing TypeOrmModule and JobsModule
// from the BUILT package (dist/), as a user's app would (test/support/worker-app.mjs). Plain ESM
// JavaScript, as test/support/limits-worker.mjs, so the child needs no TypeScript loader; decorators
// applied by hand.
//
//   node test/support/flows-worker.mjs '<json config>'
//
// Config (FaultRun.start in test/fault/harness.ts writes name, database and runs; the suite the rest):
//   name       label of this replica ("w0", ...)
//   database   TypeORM options
//   runs       file this process appends its run records to (one JSON object per line)
//   jobs       JobsModule.forRoot() options
//   gates      a directory: a run of 'flows.child' or 'flows.item' whose data has `gate: name`
//              holds its slot until the file <gates>/<name> exists, so the suite can let many jobs
//              start and then end them all at the same moment, in every process
//
// Kinds (each with maxAttempts 1: a run that fails stays failed, and the suite sees it):
//   flows.child      nothing, or waits for its gate
//   flows.parent     reads its dependencies (job.dependencies())
//   flows.item       nothing, or waits for its gate
//   flows.batchDone  nothing; its start record carries its data
//
// Records, each written synchronously so it survives kill -9 the moment it is written:
//   ready   the app has bootstrapped
//   start   a handler began {job, kind, attempt}; flows.batchDone adds {data}
//   end     the handler is about to return (its outcome is written after this); flows.parent
//           adds {dependencies, succeeded}: how many job.dependencies() listed, and succeeded
// Every record has t (Date.now()) and mono (CLOCK_MONOTONIC in ms, the same clock in every process
// on the machine: the order of one process's end and another's start).
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { JobKind } from '../../dist/index.js';
import { runRecorder, startWorkerApp } from './worker-app.mjs';

const config = JSON.parse(process.argv[2] ?? '{}');

const record = runRecorder(config);

/** Per gate: resolves once its file exists (one poll of 2 ms for every run waiting on it here). */
const gates = new Map();
function gate(name) {
  if (name === undefined) return undefined;
  let open = gates.get(name);
  if (!open) {
    const file = join(config.gates, name);
    open = new Promise((resolve) => {
      const poll = setInterval(() => {
        if (existsSync(file)) {
          clearInterval(poll);
          resolve();
        }
      }, 2);
    });
    gates.set(name, open);
  }
  return open;
}

function runOf(job) {
  return { job: job.id, kind: job.kind, attempt: job.attempt };
}

class FlowHandlers {
  async child(job) {
    record('start', runOf(job));
    await gate(job.data?.gate);
    record('end', runOf(job));
  }

  async parent(job) {
    record('start', runOf(job));
    const dependencies = await job.dependencies();
    record('end', {
      ...runOf(job),
      dependencies: dependencies.length,
      succeeded: dependencies.filter((dependency) => dependency.status === 'succeeded').length,
    });
  }

  async item(job) {
    record('start', runOf(job));
    await gate(job.data?.gate);
    record('end', runOf(job));
  }

  batchDone(job) {
    record('start', { ...runOf(job), data: job.data });
    record('end', runOf(job));
  }
}

for (const [key, kind] of [
  ['child', 'flows.child'],
  ['parent', 'flows.parent'],
  ['item', 'flows.item'],
  ['batchDone', 'flows.batchDone'],
]) {
  const descriptor = Object.getOwnPropertyDescriptor(FlowHandlers.prototype, key);
  Reflect.decorate([JobKind(kind, { maxAttempts: 1 })], FlowHandlers.prototype, key, descriptor);
}
Reflect.decorate([Injectable()], FlowHandlers);

await startWorkerApp(config, [FlowHandlers]);
record('ready');
console.log(`FAULT-WORKER-READY ${config.name} pid=${process.pid}`);
