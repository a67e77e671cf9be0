// The Nest application of a worker process, as a user's app has it: TypeOrmModule on the given
// database (entities loaded by the module, which makes its own tables) and JobsModule from the BUILT
// package (dist/), with the handler providers of the script that calls it. Shared by the process
// suites' workers (test/support/*-worker.mjs, test/fault/*worker.mjs).
import 'reflect-metadata';
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
