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
import { JobsService } from 'nestjs-typeorm-jobs';
import { WEBMENTION_RECEIVE, type WebmentionPayload } from './webmention.payload.js';

/** The webmention endpoint: accepts at once, verifies later in a job. */
@Controller('webmention')
export class WebmentionController {
  constructor(private readonly jobs: JobsService) {}

  /**
   * Takes `{ source, target }` as JSON or as a form (the spec's encoding) and answers 202 with the
   * job's id and its URL (also in Location). The job checks the URLs, not this request, as the spec
   * allows. The same webmention sent again while its job is still waiting gets that job back
   * instead of a second one.
   */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  async receive(
    @Body() body: unknown,
    @Res({ passthrough: true }) response: ServerResponse,
  ): Promise<{ id: number; status: string; location: string }> {
    const payload = webmentionBody(body);
    const job = await this.jobs.enqueue<WebmentionPayload>(WEBMENTION_RECEIVE, payload, {
      unique: true,
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
