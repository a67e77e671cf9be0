import {
  BadRequestException,
  Controller,
  DefaultValuePipe,
  Get,
  NotFoundException,
  Param,
  ParseIntPipe,
  Query,
} from '@nestjs/common';
import { JOB_STATUSES, JobEntity, JobsService, type JobStatus } from 'nestjs-typeorm-jobs';

/** Jobs as JSON, for curl users: one by id, or the newest ones. */
@Controller('api/jobs')
export class StatusController {
  constructor(private readonly jobs: JobsService) {}

  /** `GET /api/jobs?status=failed&kind=webmention.receive&limit=20`, newest first. */
  @Get()
  list(
    @Query('status') status: string | undefined,
    @Query('kind') kind: string | undefined,
    @Query('limit', new DefaultValuePipe(20), ParseIntPipe) limit: number,
  ): Promise<JobEntity[]> {
    if (status !== undefined && !JOB_STATUSES.includes(status as JobStatus)) {
      throw new BadRequestException(`"status" must be one of ${JOB_STATUSES.join(', ')}.`);
    }
    if (limit < 1 || limit > 1000) throw new BadRequestException('"limit" must be from 1 to 1000.');
    return this.jobs.list({ status: status as JobStatus | undefined, kind, limit });
  }

  /** `GET /api/jobs/42`: status, attempts, logs, last error, result... */
  @Get(':id')
  async get(@Param('id', ParseIntPipe) id: number): Promise<JobEntity> {
    const job = await this.jobs.get(id);
    if (!job) throw new NotFoundException(`No job ${id}.`);
    return job;
  }
}
