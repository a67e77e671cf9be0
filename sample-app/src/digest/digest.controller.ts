import {
  BadRequestException,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  NotFoundException,
  Param,
  Post,
  Query,
} from '@nestjs/common';
import {
  InvalidJobsOptionError,
  JobsService,
  ScheduleNotFoundError,
  type JobSchedule,
} from 'nestjs-typeorm-jobs';
import { DIGEST_SEND, type DigestPayload } from './digest.jobs.js';

/** Per-user digests: one runtime schedule each, made, paused and removed over HTTP. */
@Controller('digests')
export class DigestController {
  constructor(private readonly jobs: JobsService) {}

  /** `GET /digests`: every user's schedule, paused ones included, with its next and last run. */
  @Get()
  list(): Promise<JobSchedule[]> {
    return this.jobs.schedules({ kind: DIGEST_SEND.name });
  }

  /**
   * `POST /digests/alice`: sends alice a digest every minute (`?every=30s`, or a number of ms, to
   * change it). Sent again, it updates the same schedule in place: still one per user.
   */
  @Post(':user')
  subscribe(
    @Param('user') user: string,
    @Query('every') every: string | undefined,
  ): Promise<JobSchedule<DigestPayload>> {
    return refusedAs400(() =>
      this.jobs.schedule(keyOf(user), DIGEST_SEND, { user }, { every: everyOf(every) }),
    );
  }

  /** `DELETE /digests/alice`: no more digests for alice; 404 if she had none. */
  @Delete(':user')
  @HttpCode(HttpStatus.NO_CONTENT)
  async unsubscribe(@Param('user') user: string): Promise<void> {
    if (!(await this.jobs.unschedule(keyOf(user)))) throw noDigest(user);
  }

  /** `POST /digests/alice/pause`: stored, so it holds on every instance and across restarts. */
  @Post(':user/pause')
  @HttpCode(HttpStatus.OK)
  pause(@Param('user') user: string): Promise<{ key: string; paused: true; changed: boolean }> {
    return notFoundAs404(user, async () => {
      const changed = await this.jobs.pauseSchedule(keyOf(user));
      return { key: keyOf(user), paused: true, changed };
    });
  }

  /** `POST /digests/alice/resume`: from the next occurrence; the ones missed while paused are skipped. */
  @Post(':user/resume')
  @HttpCode(HttpStatus.OK)
  resume(@Param('user') user: string): Promise<{ key: string; paused: false; changed: boolean }> {
    return notFoundAs404(user, async () => {
      const changed = await this.jobs.resumeSchedule(keyOf(user));
      return { key: keyOf(user), paused: false, changed };
    });
  }
}

/**
 * A prefix keeps runtime keys apart from kind names: `pauseSchedule('digest.send')` would name a
 * schedule the kind declares, `digest:user:alice` names alice's.
 */
function keyOf(user: string): string {
  return `digest:user:${user}`;
}

/** Digits alone are milliseconds; anything else goes to the package's duration grammar ('1m', '30s'). */
function everyOf(every: string | undefined): number | string {
  if (every === undefined) return '1m';
  return /^\d+$/.test(every) ? Number(every) : every;
}

/** The package checks the key and the spec before writing anything; its typed error says what is wrong. */
async function refusedAs400<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof InvalidJobsOptionError) throw new BadRequestException(error.message);
    throw error;
  }
}

async function notFoundAs404<T>(user: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) throw noDigest(user);
    throw error;
  }
}

function noDigest(user: string): NotFoundException {
  return new NotFoundException(`No digest for ${user}: POST /digests/${user} to start one.`);
}
