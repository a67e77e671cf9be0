import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import {
  JOB_STATUSES,
  JobEntity,
  JobKind,
  type JobContext,
  type JobStatus,
} from 'nestjs-typeorm-jobs';
import { Repository } from 'typeorm';

export const STATS_LOG = 'stats.log';
export const STATS_INTERVAL = 60_000;

/**
 * A declared schedule: once a minute, logs how many jobs are in each status. The module keeps one
 * schedule row for it, so however many instances run, each minute runs once in total.
 */
@Injectable()
export class StatsJobs {
  private readonly logger = new Logger(StatsJobs.name);

  constructor(@InjectRepository(JobEntity) private readonly jobRows: Repository<JobEntity>) {}

  @JobKind(STATS_LOG, { every: STATS_INTERVAL })
  async log(job: JobContext): Promise<string> {
    const counts = await this.countByStatus();
    const line = JOB_STATUSES.map((status) => `${status} ${counts[status]}`).join(', ');
    this.logger.log(`job #${job.id}: ${line}`);
    return line;
  }

  /** The job table is an ordinary entity: a group-by through the app's own repository. */
  private async countByStatus(): Promise<Record<JobStatus, number>> {
    const rows = await this.jobRows
      .createQueryBuilder('job')
      .select('job.status', 'status')
      .addSelect('COUNT(*)', 'count')
      .groupBy('job.status')
      .getRawMany<{ status: JobStatus; count: string | number }>();
    const counts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<
      JobStatus,
      number
    >;
    for (const row of rows) counts[row.status] = Number(row.count);
    return counts;
  }
}
