import { Injectable, Logger } from '@nestjs/common';
import { OnJobEvent, type JobEvent } from 'nestjs-typeorm-jobs';
import { DIGEST_SEND, type DigestPayload, type DigestResult } from './digest.jobs.js';

/**
 * Reacts to sent digests, apart from the handler that sends them: where an app would record "last
 * digest sent" or count deliveries. The event comes once the outcome is stored, and carries the
 * job's `data` and the handler's `result`, so the listener needs no query of its own.
 */
@Injectable()
export class DigestEvents {
  private readonly logger = new Logger(DigestEvents.name);

  @OnJobEvent('succeeded', { kind: DIGEST_SEND.name })
  sent(event: JobEvent): void {
    const { user } = event.data as DigestPayload;
    const { sentAt } = event.result as DigestResult;
    this.logger.log(
      `digest for ${user} sent at ${sentAt} (job #${event.id}, attempt ${event.attempt})`,
    );
  }
}
