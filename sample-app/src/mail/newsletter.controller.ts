import { BadRequestException, Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { JobsService, jobSpec } from 'nestjs-typeorm-jobs';
import { MAIL_SEND } from './mail.jobs.js';

const MAX_RECIPIENTS = 1_000;

/** Newsletters: one `mail.send` job per recipient, sent at the provider's pace. */
@Controller('newsletters')
export class NewsletterController {
  constructor(private readonly jobs: JobsService) {}

  /**
   * `POST /newsletters` with `{ "subject": "November news", "recipients": ["a@example.com", ...] }`:
   * enqueues every mail at once (one statement) and answers 202 with their ids. They are sent as
   * the kind's limits allow (2 at once, 5 a second), not as fast as the runners could.
   */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  async send(@Body() body: unknown): Promise<{ ids: number[]; location: string }> {
    const { subject, recipients } = newsletterOf(body);
    const jobs = await this.jobs.enqueueMany(
      recipients.map((to) => jobSpec(MAIL_SEND, { to, subject })),
    );
    return { ids: jobs.map((job) => job.id), location: `/api/jobs?kind=${MAIL_SEND.name}` };
  }
}

function newsletterOf(body: unknown): { subject: string; recipients: string[] } {
  const { subject, recipients } = (body ?? {}) as Record<string, unknown>;
  if (typeof subject !== 'string' || subject.trim() === '' || subject.length > 200) {
    throw new BadRequestException('"subject" must be a text of 1 to 200 characters.');
  }
  if (
    !Array.isArray(recipients) ||
    recipients.length === 0 ||
    recipients.length > MAX_RECIPIENTS ||
    !recipients.every((to) => typeof to === 'string' && /^[^@\s]+@[^@\s]+$/.test(to))
  ) {
    throw new BadRequestException(
      `"recipients" must be a list of 1 to ${MAX_RECIPIENTS} mail addresses.`,
    );
  }
  return { subject, recipients };
}
