import { Injectable, Logger } from '@nestjs/common';
import { JobKind, defineJobKind, type JobContext } from 'nestjs-typeorm-jobs';

/** Whose digest to send: each user's schedule carries its own data. */
export interface DigestPayload {
  user: string;
}

/** What a sent digest returns; kept as the job's `result` and carried by its `succeeded` event. */
export interface DigestResult {
  user: string;
  sentAt: string;
}

export const DIGEST_SEND = defineJobKind<DigestPayload>('digest.send');

/**
 * Sends one user's digest. The kind declares no schedule of its own: the controller makes one per
 * user at runtime (`jobs.schedule(...)`), stored in the database, so each occurrence runs once
 * however many instances run.
 */
@Injectable()
export class DigestJobs {
  private readonly logger = new Logger(DigestJobs.name);

  @JobKind(DIGEST_SEND)
  send(job: JobContext<DigestPayload>): DigestResult {
    // A real app would gather the user's news and mail it; the sample has no mail server.
    this.logger.log(`job #${job.id}: digest for ${job.data.user}`);
    return { user: job.data.user, sentAt: new Date().toISOString() };
  }
}
