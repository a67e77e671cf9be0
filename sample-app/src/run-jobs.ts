import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { describeSummary, runDueJobs } from './run-jobs.command.js';

/**
 * For cron: boots the app without its HTTP server or background runner, runs the jobs due now,
 * prints what happened, and exits 1 if any run failed.
 */
async function main(): Promise<number> {
  const app = await NestFactory.createApplicationContext(AppModule.forRoot({ runner: false }));
  // A SIGTERM mid-run still lets the running jobs finish, or releases them for the next run.
  app.enableShutdownHooks();
  try {
    const { summary, exitCode } = await runDueJobs(app);
    console.log(describeSummary(summary));
    return exitCode;
  } finally {
    await app.close();
  }
}

process.exit(await main());
