import { Module } from '@nestjs/common';
import { WebmentionController } from './webmention.controller.js';
import { WebmentionJobs } from './webmention.jobs.js';

@Module({
  controllers: [WebmentionController],
  providers: [WebmentionJobs],
})
export class WebmentionModule {}
