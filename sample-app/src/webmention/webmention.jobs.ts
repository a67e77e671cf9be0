import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { Webmention } from './webmention.entity.js';
import { JobKind, type JobContext } from 'nestjs-typeorm-jobs';
import {
  WEBMENTION_RECEIVE,
  webmentionProblem,
  type WebmentionPayload,
} from './webmention.payload.js';

/** Handles received webmentions, one job each. */
@Injectable()
export class WebmentionJobs {
  private readonly logger = new Logger(WebmentionJobs.name);

  constructor(@InjectRepository(Webmention) private readonly mentions: Repository<Webmention>) {}

  /**
   * A real receiver would now fetch the source and look for a link to the target; the sample has
   * no outside network, so it stops at checking the URLs. An invalid webmention throws: it is
   * retried (a short backoff, to keep the demo quick) and ends failed.
   */
  @JobKind(WEBMENTION_RECEIVE, { maxAttempts: 3, backoff: 200 })
  async receive(job: JobContext<WebmentionPayload>): Promise<string> {
    const { source, target } = job.data;
    this.logger.log(
      `job #${job.id} attempt ${job.attempt}/${job.maxAttempts}: ${source} -> ${target}`,
    );
    job.log(`checking ${source} -> ${target}`);
    const problem = webmentionProblem(job.data);
    if (problem) throw new Error(`invalid webmention: ${problem}`);
    job.log(`source and target are http(s) URLs; target host ${new URL(target).hostname} accepted`);
    await this.mentions.update({ jobId: job.id }, { verified: true });
    return 'verified';
  }
}
