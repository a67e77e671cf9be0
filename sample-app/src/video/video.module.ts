import { Module } from '@nestjs/common';
import { VideoController } from './video.controller.js';
import { VideoJobs } from './video.jobs.js';

/** Flows and batches: a video's publish after its renditions, an import's report after its rows. */
@Module({
  controllers: [VideoController],
  providers: [VideoJobs],
})
export class VideoModule {}
