import {
  BadRequestException,
  Controller,
  HttpCode,
  HttpStatus,
  Param,
  ParseIntPipe,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { JobsService } from 'nestjs-typeorm-jobs';
import { ACCOUNT_SYNC, accountGroup } from './account.jobs.js';

const MAX_SYNC_MS = 60_000;
const DEFAULT_SYNC_MS = 1_000;

/** Account syncs: one at a time per account, any number of accounts at once. */
@Controller('accounts')
export class AccountController {
  constructor(private readonly jobs: JobsService) {}

  /**
   * `POST /accounts/42/sync`: enqueues a sync of account 42 in the account's group and answers 202
   * at once. Sent twice, the second sync waits for the first (`GET /api/jobs/:id` shows
   * `"waiting":{"reason":"group-concurrency",...}`); another account's sync does not. `?ms=` sets
   * how long the sync takes (default 1000).
   */
  @Post(':id/sync')
  @HttpCode(HttpStatus.ACCEPTED)
  async sync(
    @Param('id', ParseIntPipe) accountId: number,
    @Query('ms') ms: string | undefined,
    @Res({ passthrough: true }) response: ServerResponse,
  ): Promise<{ id: number; group: string | null; status: string; location: string }> {
    const job = await this.jobs.enqueue(
      ACCOUNT_SYNC,
      { accountId, ms: syncMs(ms) },
      { group: accountGroup(accountId) },
    );
    const location = `/api/jobs/${job.id}`;
    response.setHeader('Location', location);
    return { id: job.id, group: job.group, status: job.status, location };
  }
}

function syncMs(value: string | undefined): number {
  if (value === undefined) return DEFAULT_SYNC_MS;
  const ms = Number(value);
  if (!/^\d+$/.test(value) || ms > MAX_SYNC_MS) {
    throw new BadRequestException(`"ms" must be an integer from 0 to ${MAX_SYNC_MS}.`);
  }
  return ms;
}
