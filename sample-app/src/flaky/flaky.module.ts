import { Module } from '@nestjs/common';
import { FlakyController } from './flaky.controller.js';
import { FlakyJobs } from './flaky.jobs.js';

@Module({
  controllers: [FlakyController],
  providers: [FlakyJobs],
})
export class FlakyModule {}
