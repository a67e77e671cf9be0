import {
  BadRequestException,
  Body,
  Controller,
  HttpCode,
  HttpStatus,
  Post,
  Res,
} from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { InjectDataSource } from '@nestjs/typeorm';
import { JobsService } from 'nestjs-typeorm-jobs';
import { DataSource } from 'typeorm';
import { Webmention } from './webmention.entity.js';
import { WEBMENTION_RECEIVE, type WebmentionPayload } from './webmention.payload.js';

/** The webmention endpoint: accepts at once, verifies later in a job. */
@Controller('webmention')
export class WebmentionController {
  constructor(
    private readonly jobs: JobsService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /**
   * Takes `{ source, target }` as JSON or as a form (the spec's encoding) and answers 202 with the
   * job's id and its URL (also in Location). The job checks the URLs, not this request, as the spec
   * allows. The same webmention sent again while its job is still waiting gets that job back
   * instead of a second one. The webmention row and its job are written in one transaction: both
   * exist, or neither does.
   */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  async receive(
    @Body() body: unknown,
    @Res({ passthrough: true }) response: ServerResponse,
  ): Promise<{ id: number; status: string; location: string }> {
    const payload = webmentionBody(body);
    const job = await this.dataSource.transaction(async (manager) => {
      const mention = await manager.save(Webmention, { ...payload, verified: false, jobId: null });
      const queued = await this.jobs.enqueue(WEBMENTION_RECEIVE, payload, {
        unique: true,
        manager,
      });
      await manager.update(Webmention, mention.id, { jobId: queued.id });
      return queued;
    });
    const location = `/api/jobs/${job.id}`;
    response.setHeader('Location', location);
    return { id: job.id, status: job.status, location };
  }
}

function webmentionBody(body: unknown): WebmentionPayload {
  const { source, target } = (body ?? {}) as Record<string, unknown>;
  if (typeof source !== 'string' || typeof target !== 'string') {
    throw new BadRequestException('Send "source" and "target", both strings.');
  }
  return { source, target };
}
