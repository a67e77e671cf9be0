import {
  Body,
  Controller,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Query,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import type { JobEntity } from '../entities/job.entity.js';
import type { JobBatch } from '../interfaces/jobs-service.interface.js';
import type { RunPendingSummary } from '../interfaces/jobs-service.interface.js';
import type { JobSchedule } from '../interfaces/schedule-options.interface.js';
import { DashboardAccessGuard } from './dashboard.access.guard.js';
import { DashboardActions, describeRunPending } from './dashboard.actions.js';
import { DASHBOARD_OPTIONS } from './dashboard.constants.js';
import { DashboardJsonPostGuard } from './dashboard.csrf.js';
import { DashboardNoStoreInterceptor } from './dashboard.http.js';
import { DashboardKinds } from './dashboard.kinds.js';
import type { ResolvedDashboardOptions } from './dashboard.options.js';
import {
  parseAction,
  parseBatchId,
  parseIdList,
  parseJobId,
  parseJobsQuery,
} from './dashboard.params.js';
import { DashboardQueries } from './dashboard.queries.js';
import { DashboardQueues, type QueueToggle } from './dashboard.queues.js';
import type {
  ActionReport,
  JobsPage,
  KindRow,
  LiveJob,
  MinuteBucket,
  QueueRow,
  StatusCounts,
} from './dashboard.types.js';

/** The JSON API under `<path>/api`: what the pages show, for scripts and for the pages' own refresh. */
@Controller('api')
@UseGuards(DashboardAccessGuard)
@UseInterceptors(DashboardNoStoreInterceptor)
export class DashboardApiController {
  constructor(
    @Inject(DASHBOARD_OPTIONS) private readonly options: ResolvedDashboardOptions,
    private readonly queries: DashboardQueries,
    private readonly actions: DashboardActions,
    private readonly kinds: DashboardKinds,
    private readonly queues: DashboardQueues,
  ) {}

  /** `GET api/jobs?status=&kind=&queue=&periodic=&batch=&order=&after=&before=&limit=` */
  @Get('jobs')
  async jobs(
    @Query() params: Record<string, unknown>,
  ): Promise<JobsPage & { counts: StatusCounts }> {
    const query = parseJobsQuery(params, this.options.pageSize);
    const [page, counts] = await Promise.all([
      this.queries.page(query),
      this.queries.counts(query),
    ]);
    return { ...page, counts };
  }

  /** `GET api/jobs/:id`: every field, logs and result included. */
  @Get('jobs/:id')
  async job(@Param('id') id: string): Promise<JobEntity> {
    const job = await this.queries.get(parseJobId(id));
    if (!job) throw new NotFoundException(`There is no job #${id}.`);
    return job;
  }

  /** `GET api/batches/:id`: its jobs per status, times and callback job, as `JobsService.batch()` gives them. */
  @Get('batches/:id')
  async batch(@Param('id') id: string): Promise<JobBatch> {
    const batch = await this.queries.batch(parseBatchId(id));
    if (!batch) throw new NotFoundException(`There is no batch #${id}.`);
    return batch;
  }

  /**
   * `GET api/progress?ids=4,7`: status and progress of these jobs (those that still exist), what a
   * page showing them running polls to move its bars and badges.
   */
  @Get('progress')
  async progress(@Query('ids') ids: unknown): Promise<{ jobs: LiveJob[] }> {
    return { jobs: await this.queries.live(parseIdList(ids)) };
  }

  /** `GET api/kinds`: name, created, modified, resolves (in this instance), counts per status, limits. */
  @Get('kinds')
  kindList(): Promise<KindRow[]> {
    return this.kinds.withCounts();
  }

  /** `GET api/stats?kind=&queue=&periodic=&batch=`: counts per status and the last hour's finished jobs per minute. */
  @Get('stats')
  async stats(
    @Query() params: Record<string, unknown>,
  ): Promise<{ counts: StatusCounts; finishedPerMinute: MinuteBucket[] }> {
    const query = parseJobsQuery(params, this.options.pageSize);
    const [counts, finishedPerMinute] = await Promise.all([
      this.queries.counts(query),
      this.queries.finishedPerMinute(),
    ]);
    return { counts, finishedPerMinute };
  }

  /** `POST api/jobs/actions {"action": "run"|"retry"|"cancel"|"delete", "ids": [1, 2]}` */
  @Post('jobs/actions')
  @UseGuards(DashboardJsonPostGuard)
  @HttpCode(200)
  act(@Body() body: unknown): Promise<ActionReport> {
    const { action, ids } = parseAction(body);
    return this.actions.apply(action, ids);
  }

  /** `GET api/schedules?after=`: the schedules, declared and runtime, and the cursor of the next page. */
  @Get('schedules')
  schedules(
    @Query('after') after: unknown,
  ): Promise<{ schedules: JobSchedule[]; next: number | null }> {
    return this.actions.schedules(after === undefined ? undefined : parseJobId(after));
  }

  /** `POST api/schedules {"key": "digest.send", "action": "pause"|"resume"}`; 404 if there is no such schedule. */
  @Post('schedules')
  @UseGuards(DashboardJsonPostGuard)
  @HttpCode(200)
  async toggleSchedule(
    @Body() body: Record<string, unknown> | null,
  ): Promise<{ changed: boolean; message: string }> {
    const { outcome, message } = await this.actions.toggleSchedule(body?.action, body?.key);
    if (outcome === 'missing') throw new NotFoundException(message);
    return { changed: outcome === 'done', message };
  }

  /**
   * `GET api/queues`: every queue, paused or not, with its jobs per status (JobsService.queues())
   * and the limits of the kinds whose jobs it holds (`limits: [{ kind, limits }]`).
   */
  @Get('queues')
  queueList(): Promise<QueueRow[]> {
    return this.queues.list();
  }

  /** `POST api/queues/:name/pause` (the name URL-encoded): `{ changed, message }`, changed false if paused already. */
  @Post('queues/:name/pause')
  @UseGuards(DashboardJsonPostGuard)
  @HttpCode(200)
  pauseQueue(@Param('name') name: string): Promise<QueueToggle> {
    return this.queues.toggle('pause', name);
  }

  /** `POST api/queues/:name/resume`: `{ changed, message }`, changed false if it was not paused. */
  @Post('queues/:name/resume')
  @UseGuards(DashboardJsonPostGuard)
  @HttpCode(200)
  resumeQueue(@Param('name') name: string): Promise<QueueToggle> {
    return this.queues.toggle('resume', name);
  }

  /** `POST api/run-pending`: runs every due job once in this instance and says what happened. */
  @Post('run-pending')
  @UseGuards(DashboardJsonPostGuard)
  @HttpCode(200)
  async runPending(): Promise<RunPendingSummary & { message: string }> {
    const summary = await this.actions.runPending();
    return { ...summary, message: describeRunPending(summary) };
  }
}
