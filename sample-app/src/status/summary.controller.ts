import { Controller, Get } from '@nestjs/common';
import { JobsService } from 'nestjs-typeorm-jobs';

/** `GET /status`: what an operator looks at first. */
@Controller('status')
export class SummaryController {
  constructor(private readonly jobs: JobsService) {}

  /**
   * Jobs per kind and status, and the kinds whose pending jobs no running instance handles: a kind
   * removed from the code while jobs waited, or one no instance with a runner has started with yet.
   * Their jobs wait until a handler runs again. Only instances with a runner count: the cron script
   * runs jobs without one, so where cron alone runs them every kind with pending jobs is listed.
   */
  @Get()
  async summary() {
    const [counts, unhandledKinds] = await Promise.all([
      this.jobs.counts(),
      this.jobs.unhandledKinds(),
    ]);
    return { counts, unhandledKinds };
  }
}
