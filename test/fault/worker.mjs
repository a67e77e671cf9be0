#!/usr/bin/env node
// One replica of a user's app, as a real OS process: a Nest application context importing
// TypeOrmModule and JobsModule from the BUILT package (dist/), with a provider of job handlers.
// Plain ESM JavaScript so the child needs no TypeScript loader; decorators are applied by hand.
//
//   node test/fault/worker.mjs '<json config>'
//
// Config (see test/fault/harness.ts, which writes it):
//   name       label of this replica in the run records ("w0", ...)
//   database   TypeORM options: { type, url } or { type: 'better-sqlite3', database, enableWAL, timeout }
//   jobs       JobsModule.forRoot() options: concurrency, lease, pollInterval, shutdownTimeout, ...
//   runs       file this process appends its run records to (one JSON object per line)
//   handlerMs  how long a handler runs when the job's data does not say (default 5)
//   maxHandlerMs  cap on any handler's duration in this process (a "fast" replica)
//   timeout    the timeout of the kind 'fault.timed', in ms (default 500)
//   periodic   { interval } to enqueue the singleton periodic job 'fault.tick' at startup
//
// Each handler appends {e:'start'|'end'|'aborted', job, attempt, worker, pid, t} to `runs` with a
// synchronous write, so a record survives kill -9 of this process the moment it is written.
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobKind, JobsService } from '../../dist/index.js';
import { runRecorder, startWorkerApp } from '../support/worker-app.mjs';

const config = JSON.parse(process.argv[2] ?? '{}');

const record = runRecorder(config);

/** Sleeps, or busy-waits (blocking the whole process) when asked to play a stuck handler. */
async function work(ms, { signal, ignoreSignal, block }) {
  const duration = Math.min(ms, config.maxHandlerMs ?? Infinity);
  if (block) {
    const until = Date.now() + duration;
    while (Date.now() < until); // a handler stuck in synchronous code: no timer, no renewal runs here
    return;
  }
  await sleep(duration, undefined, ignoreSignal ? {} : { signal });
}

/**
 * The handlers. `data` says how long to run ({ ms }), whether to ignore the AbortSignal
 * ({ ignoreSignal: true }) and whether the first attempt blocks the process ({ blockFirst: true }).
 */
class FaultHandlers {
  async run(context) {
    const { id, attempt, data } = context;
    record('start', { job: id, attempt, kind: context.kind });
    try {
      await work(data?.ms ?? config.handlerMs ?? 5, {
        signal: context.signal,
        ignoreSignal: data?.ignoreSignal === true,
        block: data?.blockFirst === true && attempt === 1,
      });
    } catch (error) {
      record('aborted', {
        job: id,
        attempt,
        kind: context.kind,
        reason: String(context.signal.reason ?? error),
      });
      throw error;
    }
    record('end', { job: id, attempt, kind: context.kind });
    return 'done';
  }

  work(context) {
    return this.run(context);
  }

  timed(context) {
    return this.run(context);
  }

  tick(context) {
    return this.run(context);
  }
}

const method = (name) => Object.getOwnPropertyDescriptor(FaultHandlers.prototype, name);
Reflect.decorate([JobKind('fault.work')], FaultHandlers.prototype, 'work', method('work'));
Reflect.decorate(
  [JobKind('fault.timed', { timeout: config.timeout ?? 500, maxAttempts: 1 })],
  FaultHandlers.prototype,
  'timed',
  method('timed'),
);
Reflect.decorate([JobKind('fault.tick')], FaultHandlers.prototype, 'tick', method('tick'));
Reflect.decorate([Injectable()], FaultHandlers);

/** Records that the application closed through its shutdown hooks (not a kill). */
class ShutdownProbe {
  onApplicationShutdown(signal) {
    record('closed', { signal: signal ?? null });
  }
}
Reflect.decorate([Injectable()], ShutdownProbe);

const app = await startWorkerApp(config, [FaultHandlers, ShutdownProbe]);

if (config.periodic) {
  // Every replica asks for the periodic job at startup, as a user's app would; `unique` keeps one.
  await app
    .get(JobsService)
    .enqueue(
      'fault.tick',
      {},
      { periodic: true, interval: config.periodic.interval, unique: true },
    );
}

record('ready');
console.log(`FAULT-WORKER-READY ${config.name} pid=${process.pid}`);
