#!/usr/bin/env node
// One replica of a user's app as a real OS process, for the run-control tests and the cancel
// latency benchmark: a Nest application context importing TypeOrmModule and JobsModule from the
// BUILT package (dist/), with handlers that block until told otherwise. Plain ESM JavaScript, as
// test/fault/worker.mjs, so the child needs no TypeScript loader; decorators applied by hand.
//
//   node test/support/run-control-worker.mjs '<json config>'
//
// Config: { name, database (TypeORM options), jobs (JobsModule.forRoot options) }.
//
// Kinds:
//   control.hold   blocks until its signal aborts, then throws the signal's reason. With
//                  data.ignore (or data.ignoreAttempt equal to the attempt) it ignores the signal
//                  and returns { late: true } only when the parent writes `release <id>` to stdin.
//   control.quick  returns { quick: true } at once.
//
// Every record is one stdout line `RC <json>`: {e, worker, pid, t (Date.now), mono (CLOCK_MONOTONIC
// ms, shared by every process on the machine), job?, attempt?, ...}, with e one of 'ready',
// 'start', 'aborted' (reason: the abort reason's name; cancelled / leaseLost: instanceof the
// package's JobCancelledError / JobLeaseLostError), 'returned', 'end'. Written synchronously (stdout
// on a pipe is synchronous on Linux), in the abort listener itself, so `t` is the moment of the abort.
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { createInterface } from 'node:readline';
import { JobCancelledError, JobKind, JobLeaseLostError } from '../../dist/index.js';
import { startWorkerApp } from './worker-app.mjs';

const config = JSON.parse(process.argv[2] ?? '{}');

function record(event, fields = {}) {
  const line = {
    e: event,
    worker: config.name,
    pid: process.pid,
    t: Date.now(),
    mono: Number(process.hrtime.bigint()) / 1e6,
    ...fields,
  };
  process.stdout.write(`RC ${JSON.stringify(line)}\n`);
}

/** `release <id>` lines from the parent: the ignoring handler of that job may return. */
const releases = new Map();
function released(id) {
  let entry = releases.get(id);
  if (!entry) {
    let resolve;
    entry = { promise: new Promise((r) => (resolve = r)), resolve };
    releases.set(id, entry);
  }
  return entry;
}
createInterface({ input: process.stdin }).on('line', (line) => {
  const match = /^release (\d+)$/.exec(line.trim());
  if (match) released(Number(match[1])).resolve();
});

/** Resolves when `signal` aborts, having recorded why (at once, in the abort listener). */
function abortOf(context) {
  const { id, attempt, signal } = context;
  return new Promise((resolve) => {
    const aborted = () => {
      const reason = signal.reason;
      record('aborted', {
        job: id,
        attempt,
        reason: reason?.name ?? String(reason),
        cancelled: reason instanceof JobCancelledError,
        leaseLost: reason instanceof JobLeaseLostError,
      });
      resolve(reason);
    };
    if (signal.aborted) aborted();
    else signal.addEventListener('abort', aborted, { once: true });
  });
}

class ControlHandlers {
  async hold(context) {
    const { id, attempt, data } = context;
    record('start', { job: id, attempt, kind: context.kind });
    const abort = abortOf(context);
    if (data?.ignore === true || data?.ignoreAttempt === attempt) {
      await released(id).promise;
      record('returned', { job: id, attempt, aborted: context.signal.aborted });
      return { late: true, worker: config.name };
    }
    throw await abort;
  }

  quick(context) {
    record('start', { job: context.id, attempt: context.attempt, kind: context.kind });
    record('end', { job: context.id, attempt: context.attempt });
    return { quick: true };
  }
}

const method = (name) => Object.getOwnPropertyDescriptor(ControlHandlers.prototype, name);
Reflect.decorate([JobKind('control.hold')], ControlHandlers.prototype, 'hold', method('hold'));
Reflect.decorate([JobKind('control.quick')], ControlHandlers.prototype, 'quick', method('quick'));
Reflect.decorate([Injectable()], ControlHandlers);

const app = await startWorkerApp(config, [ControlHandlers]);
record('ready');
