import { Module } from '@nestjs/common';
import { MailJobs } from './mail.jobs.js';
import { NewsletterController } from './newsletter.controller.js';

@Module({
  controllers: [NewsletterController],
  providers: [MailJobs],
})
export class MailModule {}
