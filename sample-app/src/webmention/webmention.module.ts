import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Webmention } from './webmention.entity.js';
import { WebmentionController } from './webmention.controller.js';
import { WebmentionJobs } from './webmention.jobs.js';

@Module({
  imports: [TypeOrmModule.forFeature([Webmention])],
  controllers: [WebmentionController],
  providers: [WebmentionJobs],
})
export class WebmentionModule {}
