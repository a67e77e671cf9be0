// The Nest application of a worker process, as a user's app has it: TypeOrmModule on the given
// database (entities loaded by the module, which makes its own tables) and JobsModule from the BUILT
// package (dist/), with the handler providers of the script that calls it. Shared by the process
// suites' workers (test/support/*-worker.mjs, test/fault/*worker.mjs).
import 'reflect-metadata';
import { closeSync, openSync, writeSync } from 'node:fs';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { JobsModule } from '../../dist/index.js';

/**
 * Boots the application context: `config.database` (TypeORM options), `config.jobs`
 * (JobsModule.forRoot options), `providers` (the handler classes). SIGTERM closes it (aborting what
 * runs after `shutdownTimeout`), then Nest raises the signal again.
 */
export async function startWorkerApp(config, providers) {
  class WorkerModule {}
  Reflect.decorate(
    [
      Module({
        imports: [
          TypeOrmModule.forRoot({ ...config.database, autoLoadEntities: true, synchronize: false }),
          JobsModule.forRoot(config.jobs ?? {}),
        ],
        providers,
      }),
    ],
    WorkerModule,
  );
  const app = await NestFactory.createApplicationContext(WorkerModule, {
    logger: ['log', 'warn', 'error', 'fatal'],
  });
  app.enableShutdownHooks();
  return app;
}

/**
 * The worker's run records: `record(event, fields)` appends one JSON line to `config.runs`, written
 * synchronously so it survives kill -9 the moment it is written, with the event (`e`), the worker's
 * name, its pid, `t` (Date.now()) and `mono` (CLOCK_MONOTONIC in ms, the same clock in every process
 * on the machine, finer than a millisecond). The file is closed when the process exits.
 */
export function runRecorder(config) {
  const file = openSync(config.runs, 'a');
  process.on('exit', () => closeSync(file));
  return (event, fields = {}) => {
    const line = JSON.stringify({
      e: event,
      worker: config.name,
      pid: process.pid,
      t: Date.now(),
      mono: Number(process.hrtime.bigint()) / 1e6,
      ...fields,
    });
    writeSync(file, line + '\n');
  };
}
