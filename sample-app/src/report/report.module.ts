import { Module } from '@nestjs/common';
import { ReportController } from './report.controller.js';
import { ReportJobs } from './report.jobs.js';

@Module({
  controllers: [ReportController],
  providers: [ReportJobs],
})
export class ReportModule {}
