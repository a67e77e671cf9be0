import type { INestApplicationContext } from '@nestjs/common';
import { JobsService, type RunPendingSummary } from 'nestjs-typeorm-jobs';

export interface RunJobsResult {
  summary: RunPendingSummary;
  /** 1 when any run failed (even one that will be retried), so cron reports it; else 0. */
  exitCode: 0 | 1;
}

/** The cron script's work: run every job that is due now, once, and judge the outcome. */
export async function runDueJobs(app: INestApplicationContext): Promise<RunJobsResult> {
  const summary = await app.get(JobsService).runPending();
  return { summary, exitCode: summary.failed > 0 ? 1 : 0 };
}

export function describeSummary({ ran, succeeded, failed, snoozed }: RunPendingSummary): string {
  return `ran ${ran} job(s): ${succeeded} succeeded, ${failed} failed, ${snoozed} snoozed`;
}
