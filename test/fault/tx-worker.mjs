#!/usr/bin/env node
// One replica of a user's app whose handler has an effect in the app's own database: it inserts one
// row keyed by its job id into `tx_effects`. Like worker.mjs (a Nest application context importing
// TypeOrmModule and JobsModule from the BUILT package, dist/), for test/fault/transaction.fault.ts.
//
//   node test/fault/tx-worker.mjs '<json config>'
//
// Config (written by transaction.fault.ts):
//   name       label of this replica ("w0", ...), stored with each effect row
//   database   TypeORM options, as for worker.mjs
//   jobs       JobsModule.forRoot() options
//   runs       file this process appends its run records to (one JSON object per line)
//   holdMs     how long a run waits after its insert, before the transaction commits (or, plain,
//              before it returns), plus a random 0..holdMs: the window a kill or an outage lands in
//
// A job's data says how its handler writes its row: { via: 'transaction' } inside job.transaction()
// (exactly once), { via: 'plain' } through the data source, then it returns (the control); with
// { throwAfterCommit: true } the handler throws once its transaction has committed.
//
// Records, each written synchronously so it survives kill -9 the moment it is written:
//   start      the handler began
//   inserted   the row is inserted (inside the open transaction, via 'transaction')
//   returned   work(manager) returns: the job's end is written and the transaction commits next
//   committed  job.transaction() resolved: the row and the job's success are stored together
//   rolledback job.transaction() threw (reason: the error's name and message)
//   end        the handler returns
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { JobKind } from '../../dist/index.js';
import { runRecorder, startWorkerApp } from '../support/worker-app.mjs';

const config = JSON.parse(process.argv[2] ?? '{}');
const holdMs = config.holdMs ?? 10;
const insert =
  config.database.type === 'postgres'
    ? 'INSERT INTO tx_effects (job_id, via, worker, attempt) VALUES ($1, $2, $3, $4)'
    : 'INSERT INTO tx_effects (job_id, via, worker, attempt) VALUES (?, ?, ?, ?)';

const record = runRecorder(config);

const hold = () => sleep(holdMs + Math.floor(Math.random() * (holdMs + 1)));

class EffectHandlers {
  constructor(source) {
    this.source = source;
  }

  /** 'fault.work': one row in tx_effects per run that counts. */
  async work(job) {
    const run = { job: job.id, attempt: job.attempt };
    const row = [job.id, job.data.via, config.name, job.attempt];
    record('start', run);
    if (job.data.via === 'plain') {
      await this.source.query(insert, row);
      record('inserted', run);
      await hold();
    } else {
      try {
        await job.transaction(async (manager) => {
          await manager.query(insert, row);
          record('inserted', run);
          await hold();
          record('returned', run);
        });
      } catch (error) {
        record('rolledback', { ...run, reason: `${error?.name}: ${error?.message}` });
        throw error;
      }
      record('committed', run);
      // Once committed, the job's outcome is final: a throw now must not make it run again.
      if (job.data.throwAfterCommit) {
        record('end', run);
        throw new Error('thrown after the transaction committed');
      }
    }
    record('end', run);
  }
}

const work = Object.getOwnPropertyDescriptor(EffectHandlers.prototype, 'work');
Reflect.decorate([JobKind('fault.work')], EffectHandlers.prototype, 'work', work);
Reflect.decorate(
  [Injectable(), Reflect.metadata('design:paramtypes', [DataSource])],
  EffectHandlers,
);

const app = await startWorkerApp(config, [EffectHandlers]);
record('ready');
console.log(`FAULT-WORKER-READY ${config.name} pid=${process.pid}`);
