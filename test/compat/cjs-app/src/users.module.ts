import { Injectable, Module } from '@nestjs/common';
import { JobKind, JobsService, defineJobKind, type JobContext } from 'nestjs-typeorm-jobs';

export const SendWelcome = defineJobKind<{ email: string }>('users.welcome');

@Injectable()
export class WelcomeJobs {
  @JobKind(SendWelcome, { maxAttempts: 1 })
  async welcome(job: JobContext<{ email: string }>) {
    job.log(`welcoming ${job.data.email}`);
    return { welcomed: job.data.email };
  }
}

/** A feature module's service, as in the README's quick start: JobsService is injected, not imported. */
@Injectable()
export class UsersService {
  constructor(private readonly jobs: JobsService) {}

  signUp(email: string) {
    return this.jobs.enqueue(SendWelcome, { email });
  }
}

@Module({ providers: [WelcomeJobs, UsersService], exports: [UsersService] })
export class UsersModule {}
