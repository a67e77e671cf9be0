import { Injectable, Logger } from '@nestjs/common';
import { JobKind, type JobContext } from 'nestjs-typeorm-jobs';

/** How many runs of a flaky job throw before one succeeds. */
export interface FlakyPayload {
  failures: number;
}

export const FLAKY_FETCH = 'flaky.fetch';

/** A job that fails at first and succeeds later: what retries with backoff look like. */
@Injectable()
export class FlakyJobs {
  private readonly logger = new Logger(FlakyJobs.name);

  /**
   * Throws on its first `failures` attempts, then succeeds. It decides from the attempt number, not
   * from memory, so it behaves the same whichever instance or process runs each attempt. With more
   * failures than attempts (3), the job ends failed. The kind's `timeout` and `backoff` are the
   * defaults; an enqueue can give its own (see the controller).
   */
  @JobKind(FLAKY_FETCH, { maxAttempts: 3, backoff: 500, timeout: 30_000 })
  fetch(job: JobContext<FlakyPayload>): string {
    const { failures } = job.data;
    this.logger.log(
      `job #${job.id} attempt ${job.attempt}/${job.maxAttempts} (fails ${failures} time(s))`,
    );
    if (job.attempt <= failures) {
      throw new Error(`simulated outage on attempt ${job.attempt}`);
    }
    return `fetched on attempt ${job.attempt}`;
  }
}
