import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobKind, defineJobKind, type JobContext } from 'nestjs-typeorm-jobs';

/** One mail to one recipient. */
export interface MailPayload {
  to: string;
  subject: string;
}

/** What the mail provider answered; kept as the job's `result`. */
export interface MailSent {
  to: string;
  messageId: string;
}

export const MAIL_SEND = defineJobKind<MailPayload>('mail.send');

/** How long the pretend provider takes to accept a mail. */
const PROVIDER_MS = 100;

/** Sends mails through a provider that allows 5 calls a second and 2 connections at once. */
@Injectable()
export class MailJobs {
  private readonly logger = new Logger(MailJobs.name);

  /**
   * The provider's quota is the kind's limits, and the database enforces them across every
   * instance: at most 2 mails being sent at once, at most 5 started in any second. A mail held back
   * by a limit waits, pending, without using an attempt (`GET /api/jobs/:id` says why in
   * `waiting`); a newsletter of 20 mails takes about 4 seconds however many instances run.
   */
  @JobKind(MAIL_SEND, { concurrency: 2, rateLimit: { limit: 5, per: '1s' }, maxAttempts: 3 })
  async send(job: JobContext<MailPayload>): Promise<MailSent> {
    const { to, subject } = job.data;
    this.logger.log(`job #${job.id}: mailing "${subject}" to ${to}`);
    // Stands for the provider's API call; the signal stops it when the job is cancelled or times out.
    await sleep(PROVIDER_MS, undefined, { signal: job.signal });
    return { to, messageId: `<${job.id}@mail.example>` };
  }
}
