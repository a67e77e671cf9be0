// What both test app modules share: the handlers and the imports of a user's app, compiled
// JavaScript on the BUILT package (dist/), as test/fault/worker.mjs does; decorators applied by
// hand, so no TypeScript loader is needed. The database comes from CLI_APP_DATABASE (JSON TypeORM
// options), set by test/support/cli-suite.ts.
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { JobKind, JobsModule } from '../../dist/index.js';

export class CliHandlers {
  echo(context) {
    return { echoed: context.data };
  }

  fail() {
    throw new Error('cli.fail always fails');
  }
}
const method = (name) => Object.getOwnPropertyDescriptor(CliHandlers.prototype, name);
Reflect.decorate([JobKind('cli.echo')], CliHandlers.prototype, 'echo', method('echo'));
Reflect.decorate(
  [JobKind('cli.fail', { maxAttempts: 1 })],
  CliHandlers.prototype,
  'fail',
  method('fail'),
);
Reflect.decorate([Injectable()], CliHandlers);

/** TypeORM and JobsModule, as the app configures them (the runner on: the CLI turns it off itself). */
export function appImports() {
  return [
    // Read when the app boots, not when this file is imported: the suites' CLI host
    // (test/support/cli-host.mjs) imports it once and runs many commands, on several databases.
    TypeOrmModule.forRootAsync({
      useFactory: () => ({
        ...JSON.parse(process.env.CLI_APP_DATABASE ?? '{}'),
        autoLoadEntities: true,
        synchronize: false,
        retryAttempts: 0,
      }),
    }),
    JobsModule.forRoot({ pollInterval: 50 }),
  ];
}
