import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { JobEntity } from 'nestjs-typeorm-jobs';
import { StatsJobs } from './stats.jobs.js';

@Module({
  imports: [TypeOrmModule.forFeature([JobEntity])],
  providers: [StatsJobs],
})
export class StatsModule {}
