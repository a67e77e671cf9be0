// An app with a declared schedule, for test/cli-schedules.spec.ts: `--module schedules.module.mjs`.
import { Injectable, Module } from '@nestjs/common';
import { JobKind } from '../../dist/index.js';
import { appImports } from './shared.mjs';

export class HourlyReport {
  report() {
    return 'reported';
  }
}
Reflect.decorate(
  [JobKind('cli.hourly', { every: '1h' })],
  HourlyReport.prototype,
  'report',
  Object.getOwnPropertyDescriptor(HourlyReport.prototype, 'report'),
);
Reflect.decorate([Injectable()], HourlyReport);

export class AppModule {}
Reflect.decorate([Module({ imports: appImports(), providers: [HourlyReport] })], AppModule);
