import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobKind, defineJobKind, type JobContext } from 'nestjs-typeorm-jobs';

/** Which month to report on, and how slowly (the sample only pretends to render). */
export interface ReportPayload {
  /** `YYYY-MM`, e.g. '2026-11'. */
  month: string;
  /** How long each part takes to render, in ms: slow enough to watch the progress bar, or to cancel. */
  partMs: number;
}

/** What a built report returns; kept as the job's `result`. */
export interface ReportResult {
  month: string;
  parts: number;
  /** Where a real app would have stored the file. */
  url: string;
}

export const REPORT_BUILD = defineJobKind<ReportPayload>('report.build');

/** The parts of a month's report, rendered in this order: each one is 20% of the way. */
export const REPORT_PARTS = ['orders', 'refunds', 'customers', 'stock', 'summary'] as const;

/** Builds monthly reports: long runs that say how far they got and stop when told to. */
@Injectable()
export class ReportJobs {
  private readonly logger = new Logger(ReportJobs.name);

  /**
   * Renders the parts one by one. After each, `job.progress(percent)` stores how far it got (the
   * dashboard draws it as a bar; writes are throttled to about one a second, and the last value,
   * 100, is stored before the job succeeds). Each part's wait listens to `job.signal`, which aborts
   * when the job is cancelled (JobCancelledError), its timeout passes, this instance loses the job,
   * or the app shuts down: the handler stops at once instead of rendering parts nobody wants.
   */
  @JobKind(REPORT_BUILD, { maxAttempts: 2, timeout: 10 * 60_000 })
  async build(job: JobContext<ReportPayload>): Promise<ReportResult> {
    const { month, partMs } = job.data;
    this.logger.log(`job #${job.id}: report for ${month}, ${REPORT_PARTS.length} parts`);
    for (const [index, part] of REPORT_PARTS.entries()) {
      try {
        await renderPart(partMs, job.signal);
      } catch (error) {
        if (!job.signal.aborted) throw error;
        const reason = job.signal.reason as Error;
        this.logger.log(
          `job #${job.id}: report for ${month} stopped after ${index} of ${REPORT_PARTS.length} parts (${reason.message})`,
        );
        throw reason;
      }
      job.log(`rendered ${part}`);
      await job.progress(Math.round(((index + 1) / REPORT_PARTS.length) * 100));
    }
    return {
      month,
      parts: REPORT_PARTS.length,
      url: `https://files.example/reports/${month}.pdf`,
    };
  }
}

/**
 * Stands for the real work of one part (queries, a PDF page). Handing the signal to what waits (a
 * timer here; `fetch`, a stream or a driver's query in an app) is what lets a run stop mid-part: it
 * rejects as soon as the signal aborts.
 */
async function renderPart(partMs: number, signal: AbortSignal): Promise<void> {
  await sleep(partMs, undefined, { signal });
}
