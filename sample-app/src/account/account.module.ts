import { Module } from '@nestjs/common';
import { AccountController } from './account.controller.js';
import { AccountJobs } from './account.jobs.js';

@Module({
  controllers: [AccountController],
  providers: [AccountJobs],
})
export class AccountModule {}
