import {
  BadRequestException,
  ConflictException,
  Controller,
  HttpCode,
  HttpStatus,
  InternalServerErrorException,
  NotFoundException,
  Param,
  ParseIntPipe,
  Post,
  Query,
  Res,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import {
  InvalidJobsOptionError,
  JobCancelledError,
  JobFailedError,
  JobsService,
  JobWaitShutdownError,
  JobWaitTimeoutError,
} from 'nestjs-typeorm-jobs';
import { REPORT_BUILD, type ReportPayload, type ReportResult } from './report.jobs.js';

const MAX_PART_MS = 60_000;
const DEFAULT_PART_MS = 1_000;

/** Monthly reports: built in the background, awaited by a caller who wants the file now, or cancelled. */
@Controller('reports')
export class ReportController {
  constructor(private readonly jobs: JobsService) {}

  /**
   * `POST /reports/2026-11`: starts building November's report and answers 202 at once with the
   * job's id; watch its `progress` at `/api/jobs/:id` or on the dashboard. `?partMs=` sets how long
   * each of its 5 parts takes (default 1000).
   */
  @Post(':month')
  @HttpCode(HttpStatus.ACCEPTED)
  async start(
    @Param('month') month: string,
    @Query('partMs') partMs: string | undefined,
    @Res({ passthrough: true }) response: ServerResponse,
  ): Promise<{ id: number; status: string; location: string }> {
    const job = await this.jobs.enqueue(REPORT_BUILD, payloadOf(month, partMs));
    return accepted(response, job.id, job.status);
  }

  /**
   * `POST /reports/2026-11/wait?timeout=10s`: starts the report and answers when it is built (200,
   * with its `result`), as a caller who needs the file before going on would. The runner takes the
   * job as usual (here or on another instance); `enqueueAndWait` only waits for its end. Past the
   * timeout (default 30s) the answer is 202 with the job's id: the report goes on being built.
   */
  @Post(':month/wait')
  @HttpCode(HttpStatus.OK)
  async startAndWait(
    @Param('month') month: string,
    @Query('partMs') partMs: string | undefined,
    @Query('timeout') timeout: string | undefined,
    @Res({ passthrough: true }) response: ServerResponse,
  ): Promise<{ id: number; status: string; location?: string; result?: ReportResult }> {
    const payload = payloadOf(month, partMs);
    try {
      const job = await this.jobs.enqueueAndWait(REPORT_BUILD, payload, {
        timeout: durationOf(timeout ?? '30s'),
      });
      return { id: job.id, status: job.status, result: job.result as ReportResult };
    } catch (error) {
      if (error instanceof JobWaitTimeoutError) {
        response.statusCode = HttpStatus.ACCEPTED;
        return accepted(response, error.id, (await this.jobs.get(error.id))?.status ?? 'running');
      }
      throw httpErrorOf(error);
    }
  }

  /**
   * `POST /reports/jobs/42/cancel`: stops a report, pending or running, wherever it runs: a running
   * handler's `job.signal` aborts and it stops after the part it is on. 409 if it has ended already.
   */
  @Post('jobs/:id/cancel')
  @HttpCode(HttpStatus.OK)
  async cancel(
    @Param('id', ParseIntPipe) id: number,
  ): Promise<{ id: number; status: 'cancelled' }> {
    const job = await this.jobs.get(id);
    if (job?.kind !== REPORT_BUILD.name) throw new NotFoundException(`No report job ${id}.`);
    if (!(await this.jobs.cancel(id))) {
      const ended = await this.jobs.get(id);
      throw new ConflictException(`Report job ${id} has ended (${ended?.status ?? 'deleted'}).`);
    }
    return { id, status: 'cancelled' };
  }
}

function accepted(response: ServerResponse, id: number, status: string) {
  const location = `/api/jobs/${id}`;
  response.setHeader('Location', location);
  return { id, status, location };
}

/** How the wait ended, as HTTP: the package's typed errors say which. */
function httpErrorOf(error: unknown): unknown {
  if (error instanceof InvalidJobsOptionError) return new BadRequestException(error.message);
  if (error instanceof JobCancelledError) {
    return new ConflictException(`Report job ${error.id} was cancelled.`);
  }
  if (error instanceof JobFailedError) {
    return new InternalServerErrorException(
      `Report job ${error.job.id} failed: ${error.lastError}`,
    );
  }
  if (error instanceof JobWaitShutdownError) {
    return new ServiceUnavailableException(
      `Shutting down; report job ${error.id} goes on: GET /api/jobs/${error.id} later.`,
    );
  }
  return error;
}

function payloadOf(month: string, partMs: string | undefined): ReportPayload {
  const match = /^(\d{4})-(\d{2})$/.exec(month);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 12) {
    throw new BadRequestException(`The month must be YYYY-MM (e.g. 2026-11), not "${month}".`);
  }
  const ms = partMs === undefined ? DEFAULT_PART_MS : Number(partMs);
  if (!/^\d+$/.test(partMs ?? '0') || ms > MAX_PART_MS) {
    throw new BadRequestException(`"partMs" must be an integer from 0 to ${MAX_PART_MS}.`);
  }
  return { month, partMs: ms };
}

/** Digits alone are milliseconds; anything else goes to the package's duration grammar ('10s', '2m'). */
function durationOf(value: string): number | string {
  return /^\d+$/.test(value) ? Number(value) : value;
}
