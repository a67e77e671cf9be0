import { BadRequestException, Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { JobsService } from 'nestjs-typeorm-jobs';
import { FLAKY_FETCH, type FlakyPayload } from './flaky.jobs.js';

const MAX_FAILURES = 10;

@Controller('flaky')
export class FlakyController {
  constructor(private readonly jobs: JobsService) {}

  /** Enqueues a flaky job; `{ "failures": n }` (default 1) is how many attempts throw first. */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  async enqueue(@Body() body: unknown): Promise<{ id: number; status: string; location: string }> {
    // Someone is waiting on this fetch, so it gets its own limits in place of the kind's (30 s runs,
    // exponential backoff from 500 ms), which suit background callers: a hung attempt is given up
    // after 5 s, and a failed one retried after a fixed 250 ms. Both are stored with the job, so they
    // hold whichever instance runs the retry.
    const job = await this.jobs.enqueue<FlakyPayload>(
      FLAKY_FETCH,
      { failures: failuresOf(body) },
      { timeout: 5_000, backoff: { type: 'fixed', delay: 250 } },
    );
    return { id: job.id, status: job.status, location: `/api/jobs/${job.id}` };
  }
}

function failuresOf(body: unknown): number {
  const value = ((body ?? {}) as Record<string, unknown>).failures ?? 1;
  // A form sends numbers as text.
  const failures = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (
    typeof failures !== 'number' ||
    !Number.isInteger(failures) ||
    failures < 0 ||
    failures > MAX_FAILURES
  ) {
    throw new BadRequestException(`"failures" must be an integer from 0 to ${MAX_FAILURES}.`);
  }
  return failures;
}
