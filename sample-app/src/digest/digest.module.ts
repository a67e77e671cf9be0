import { Module } from '@nestjs/common';
import { DigestController } from './digest.controller.js';
import { DigestEvents } from './digest.events.js';
import { DigestJobs } from './digest.jobs.js';

@Module({
  controllers: [DigestController],
  providers: [DigestJobs, DigestEvents],
})
export class DigestModule {}
