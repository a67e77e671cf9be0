import {
  Body,
  Controller,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Req,
  Res,
  StreamableFile,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { NotFoundException } from '@nestjs/common';
import { DashboardAccessGuard } from './dashboard.access.guard.js';
import { DashboardActions, describeRunPending } from './dashboard.actions.js';
import { DASHBOARD_OPTIONS } from './dashboard.constants.js';
import { DashboardCsrf, DashboardCsrfGuard } from './dashboard.csrf.js';
import { DashboardFlash } from './dashboard.flash.js';
import {
  jsonDownload,
  noStore,
  putHeader,
  securePage,
  type DashboardRequest,
  type DashboardResponse,
} from './dashboard.http.js';
import { DashboardKinds } from './dashboard.kinds.js';
import type { PageContext } from './dashboard.layout.js';
import type { ResolvedDashboardOptions } from './dashboard.options.js';
import { DashboardPageFilter } from './dashboard.page.filter.js';
import {
  listQueryString,
  parseAction,
  parseBatchId,
  parseJobId,
  parseJobsQuery,
} from './dashboard.params.js';
import { DashboardPaths } from './dashboard.paths.js';
import { DashboardQueries } from './dashboard.queries.js';
import { detailPage, listPage } from './dashboard.views.js';
import { batchPage } from './dashboard.batches.view.js';
import { kindsPage } from './dashboard.kinds.view.js';
import { schedulesPage } from './dashboard.schedules.view.js';
import { DashboardQueues, type QueueAction } from './dashboard.queues.js';
import { queuesPage } from './dashboard.queues.view.js';

/** The HTML pages and their form actions (post, then redirect with a notice). */
@Controller()
@UseGuards(DashboardAccessGuard)
@UseFilters(DashboardPageFilter)
export class DashboardPagesController {
  constructor(
    @Inject(DASHBOARD_OPTIONS) private readonly options: ResolvedDashboardOptions,
    private readonly paths: DashboardPaths,
    private readonly queries: DashboardQueries,
    private readonly actions: DashboardActions,
    private readonly kinds: DashboardKinds,
    private readonly csrf: DashboardCsrf,
    private readonly flash: DashboardFlash,
    private readonly queues: DashboardQueues,
  ) {}

  @Get()
  async list(
    @Query() params: Record<string, unknown>,
    @Req() request: DashboardRequest,
    @Res({ passthrough: true }) response: DashboardResponse,
  ): Promise<string> {
    const query = parseJobsQuery(params, this.options.pageSize);
    const [page, counts, kinds, unhandled, pausedQueues, chart] = await Promise.all([
      this.queries.page(query),
      this.queries.counts(query),
      this.kinds.names(),
      this.kinds.unhandled(),
      this.queues.pausedNames(),
      this.queries.finishedPerMinute(),
    ]);
    const context = this.context(request, response);
    const here = `${context.base}${listQueryString(query, { after: query.after, before: query.before })}`;
    return listPage(context, { query, page, counts, kinds, unhandled, pausedQueues, chart, here })
      .markup;
  }

  @Get('jobs/:id')
  async detail(
    @Param('id') id: string,
    @Req() request: DashboardRequest,
    @Res({ passthrough: true }) response: DashboardResponse,
  ): Promise<string> {
    const job = await this.queries.detail(parseJobId(id));
    if (!job) throw new NotFoundException(`There is no job #${id}: it may have been deleted.`);
    const [unhandled, paused, edges] = await Promise.all([
      job.status === 'pending' && this.kinds.unhandled().then((kinds) => kinds.has(job.kind)),
      this.queues.pausedNames().then((queues) => queues.has(job.queue)),
      // Only a job in a flow has edges: one that had dependencies, or that others depend on.
      job.dependenciesLeft !== null || job.hasDependents ? this.queries.edges(job.id) : null,
    ]);
    return detailPage(this.context(request, response), job, unhandled, paused, edges).markup;
  }

  /** A batch: its jobs per status, a bar of those ended, its times and callback job. */
  @Get('batches/:id')
  async batch(
    @Param('id') id: string,
    @Req() request: DashboardRequest,
    @Res({ passthrough: true }) response: DashboardResponse,
  ): Promise<string> {
    const batch = await this.queries.batch(parseBatchId(id));
    if (!batch) throw new NotFoundException(`There is no batch #${id}.`);
    return batchPage(this.context(request, response), batch).markup;
  }

  /** The job's data, whole, as a JSON download (the page shows only its start when it is large). */
  @Get('jobs/:id/data')
  async data(
    @Param('id') id: string,
    @Res({ passthrough: true }) response: DashboardResponse,
  ): Promise<StreamableFile> {
    const json = await this.queries.dataJson(parseJobId(id));
    if (json === null)
      throw new NotFoundException(`There is no job #${id}: it may have been deleted.`);
    noStore(response);
    return jsonDownload(json, `job-${parseJobId(id)}-data.json`);
  }

  @Get('kinds')
  async kindList(
    @Req() request: DashboardRequest,
    @Res({ passthrough: true }) response: DashboardResponse,
  ): Promise<string> {
    const kinds = await this.kinds.withCounts();
    return kindsPage(this.context(request, response), kinds).markup;
  }

  @Post('actions')
  @UseGuards(DashboardCsrfGuard)
  @HttpCode(303)
  async act(
    @Body() body: Record<string, unknown>,
    @Req() request: DashboardRequest,
    @Res({ passthrough: true }) response: DashboardResponse,
  ): Promise<string> {
    const { action, ids } = parseAction(body);
    const report = await this.actions.apply(action, ids);
    const kind =
      report.done.length === 0 && (report.skipped.length || report.missing.length)
        ? 'error'
        : 'notice';
    return this.redirect(request, response, this.paths.returnTo(body.return), {
      kind,
      text: report.message,
    });
  }

  @Post('run-pending')
  @UseGuards(DashboardCsrfGuard)
  @HttpCode(303)
  async runPending(
    @Req() request: DashboardRequest,
    @Res({ passthrough: true }) response: DashboardResponse,
  ): Promise<string> {
    const summary = await this.actions.runPending();
    return this.redirect(request, response, this.paths.base, {
      kind: 'notice',
      text: describeRunPending(summary),
    });
  }

  @Get('schedules')
  async scheduleList(
    @Query('after') after: unknown,
    @Req() request: DashboardRequest,
    @Res({ passthrough: true }) response: DashboardResponse,
  ): Promise<string> {
    const cursor = after === undefined || after === '' ? undefined : parseJobId(after);
    const { schedules, next } = await this.actions.schedules(cursor);
    return schedulesPage(this.context(request, response), schedules, next).markup;
  }

  /** Pause or resume one schedule: `key` and `action` posted by the Schedules page's buttons. */
  @Post('schedules')
  @UseGuards(DashboardCsrfGuard)
  @HttpCode(303)
  async toggleSchedule(
    @Body() body: Record<string, unknown>,
    @Req() request: DashboardRequest,
    @Res({ passthrough: true }) response: DashboardResponse,
  ): Promise<string> {
    const { outcome, message } = await this.actions.toggleSchedule(body.action, body.key);
    return this.redirect(request, response, `${this.paths.base}/schedules`, {
      kind: outcome === 'done' ? 'notice' : 'error',
      text: message,
    });
  }

  @Get('queues')
  async queueList(
    @Req() request: DashboardRequest,
    @Res({ passthrough: true }) response: DashboardResponse,
  ): Promise<string> {
    const queues = await this.queues.list();
    return queuesPage(this.context(request, response), queues).markup;
  }

  /** The Queues page's Pause button: the queue's name is the (encoded) path segment. */
  @Post('queues/:name/pause')
  @UseGuards(DashboardCsrfGuard)
  @HttpCode(303)
  pauseQueue(
    @Param('name') name: string,
    @Req() request: DashboardRequest,
    @Res({ passthrough: true }) response: DashboardResponse,
  ): Promise<string> {
    return this.toggleQueue('pause', name, request, response);
  }

  @Post('queues/:name/resume')
  @UseGuards(DashboardCsrfGuard)
  @HttpCode(303)
  resumeQueue(
    @Param('name') name: string,
    @Req() request: DashboardRequest,
    @Res({ passthrough: true }) response: DashboardResponse,
  ): Promise<string> {
    return this.toggleQueue('resume', name, request, response);
  }

  private async toggleQueue(
    action: QueueAction,
    name: string,
    request: DashboardRequest,
    response: DashboardResponse,
  ): Promise<string> {
    const { changed, message } = await this.queues.toggle(action, name);
    return this.redirect(request, response, `${this.paths.base}/queues`, {
      kind: changed ? 'notice' : 'error',
      text: message,
    });
  }

  private redirect(
    request: DashboardRequest,
    response: DashboardResponse,
    to: string,
    flash: { kind: 'notice' | 'error'; text: string },
  ): string {
    this.flash.set(request, response, this.paths.base, flash);
    putHeader(response, 'Location', to);
    return '';
  }

  private context(request: DashboardRequest, response: DashboardResponse): PageContext {
    const base = this.paths.base;
    const nonce = securePage(response);
    return {
      base,
      title: this.options.title,
      nonce,
      csrf: this.csrf.token(request, response, base),
      flash: this.flash.take(request, response, base),
      refresh: this.options.refreshInterval,
    };
  }
}
