import type { RunPendingSummary } from '../interfaces/jobs-service.interface.js';
import type { ClaimedJob } from '../storage/job-rows.js';
import type { RunOutcome } from './job-execution.js';
import { settledWithin } from './running-jobs.js';

export interface RunPendingSteps {
  /** Claims up to `limit` jobs due at `cutoff` or before. */
  claim(limit: number, cutoff: number): Promise<ClaimedJob[]>;
  /** Starts a run; resolves with its outcome (undefined for a fault of the runner). */
  start(job: ClaimedJob): Promise<RunOutcome | undefined>;
  /** Writes the outcomes so far. */
  flush(): Promise<void>;
  /** Jobs claimed and run at once. */
  batch: number;
}

/**
 * Runs every job due now once, a batch at a time, and says what happened (the seed's cron
 * command). Returns after `timeout` ms at the latest: runs still going then carry on in the
 * background, their outcomes written as usual, counted as `unfinished`.
 */
export async function runPending(
  steps: RunPendingSteps,
  timeout: number,
): Promise<RunPendingSummary> {
  const summary: RunPendingSummary = { ran: 0, succeeded: 0, failed: 0, snoozed: 0, unfinished: 0 };
  const cutoff = Date.now();
  const deadline = cutoff + timeout;
  while (Date.now() < deadline && summary.unfinished === 0) {
    const jobs = await steps.claim(steps.batch, cutoff);
    if (jobs.length === 0) break;
    const outcomes = await settledWithin(
      jobs.map((job) => steps.start(job)),
      deadline - Date.now(),
    );
    await steps.flush();
    for (const outcome of outcomes) count(summary, outcome);
  }
  return summary;
}

function count(summary: RunPendingSummary, outcome: RunOutcome | undefined): void {
  if (outcome === undefined) {
    summary.unfinished++;
    return;
  }
  summary.ran++;
  if (outcome.verdict === 'retrying' || outcome.verdict === 'failed') summary.failed++;
  else if (outcome.verdict === 'snoozed') summary.snoozed++;
  else summary.succeeded++;
}
