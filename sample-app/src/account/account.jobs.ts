import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobKind, defineJobKind, type JobContext } from 'nestjs-typeorm-jobs';

/** Which account to sync, and how slowly (the sample only pretends to call the account's CRM). */
export interface AccountSyncPayload {
  accountId: number;
  /** How long the sync takes, in ms: long enough to see a second sync of the account wait. */
  ms: number;
}

/** What a sync returns; kept as the job's `result`. */
export interface AccountSynced {
  accountId: number;
  /** When this run started and ended (epoch ms, this instance's clock). */
  startedAt: number;
  endedAt: number;
}

export const ACCOUNT_SYNC = defineJobKind<AccountSyncPayload>('account.sync');

/** The group key of an account's syncs: the kind's per-group limits count by it. */
export function accountGroup(accountId: number): string {
  return `account:${accountId}`;
}

/** Syncs accounts with an outside system that must never see two syncs of one account at once. */
@Injectable()
export class AccountJobs {
  private readonly logger = new Logger(AccountJobs.name);

  /**
   * `group: { concurrency: 1 }`: at most one sync per group key running at once, across every
   * instance; the jobs are enqueued with `{ group: 'account:<id>' }`. Syncs of different accounts
   * run side by side, and an account with a backlog never holds the others up. A second sync of
   * an account waits, pending, until the first one's outcome is stored.
   */
  @JobKind(ACCOUNT_SYNC, { group: { concurrency: 1 }, maxAttempts: 3, timeout: 5 * 60_000 })
  async sync(job: JobContext<AccountSyncPayload>): Promise<AccountSynced> {
    const { accountId, ms } = job.data;
    const startedAt = Date.now();
    this.logger.log(`job #${job.id}: syncing account ${accountId} (group ${job.group})`);
    // Stands for the calls to the outside system; stops when the job is cancelled or times out.
    await sleep(ms, undefined, { signal: job.signal });
    return { accountId, startedAt, endedAt: Date.now() };
  }
}
