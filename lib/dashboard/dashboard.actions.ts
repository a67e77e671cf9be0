import { statusesFor } from '../jobs.states.js';
import { BadRequestException, Injectable } from '@nestjs/common';
import {
  JobNotFoundError,
  JobNotRetryableError,
  ScheduleNotCancellableError,
  ScheduleNotFoundError,
} from '../errors/jobs.errors.js';
import type { JobSchedule } from '../interfaces/schedule-options.interface.js';
import type { JobStatus } from '../interfaces/job-context.interface.js';
import type { RunPendingSummary } from '../interfaces/jobs-service.interface.js';
import { DashboardJobs } from './dashboard.jobs.js';
import { DashboardQueries } from './dashboard.queries.js';
import type { ActionReport, DashboardAction } from './dashboard.types.js';

/** How a pause or resume went: done, nothing to do, or no such schedule. */
export interface ScheduleToggle {
  outcome: 'done' | 'already' | 'missing';
  message: string;
}

/** Schedules per page of the Schedules page. */
const SCHEDULES_PAGE = 200;

const PAST: Record<DashboardAction, string> = {
  run: 'Made due now',
  retry: 'Retried',
  cancel: 'Cancelled',
  delete: 'Deleted',
};

/** Which statuses each action applies to; the rest are skipped and reported. */
const APPLIES: Record<DashboardAction, readonly JobStatus[]> = {
  // Run now: a pending job is made due (runNow), a finished one retried.
  run: [...statusesFor('runNow'), ...statusesFor('retry')],
  retry: statusesFor('retry'),
  cancel: statusesFor('cancel'),
  delete: ['pending', 'succeeded', 'failed', 'cancelled'],
};

/** Whether `action` applies to a job in `status` (the job's page shows only those buttons). */
export function applies(action: DashboardAction, status: JobStatus): boolean {
  return APPLIES[action].includes(status);
}

/** On a running job's page: what Cancel does to the run (JobsService.cancel). */
export const CANCEL_RUNNING_NOTE =
  'This job is running. Cancelling it asks its handler to stop (its signal aborts) and drops ' +
  'whatever the run returns.';

/** The confirmation of Cancel on a running job's page. */
export function confirmCancelRunning(id: number): string {
  return (
    `Cancel job #${id} while it runs? Its handler will be asked to stop (its signal aborts), ` +
    'and whatever the run returns will be dropped.'
  );
}

/** The confirmation of Cancel in the list, asked when a selected job is running. */
export const CONFIRM_CANCEL_SELECTED =
  "Cancel the selected jobs? A running one's handler will be asked to stop (its signal aborts), " +
  'and whatever its run returns will be dropped.';

/** The actions of the dashboard, on one job or many: run now, retry, cancel, delete, run pending. */
@Injectable()
export class DashboardActions {
  constructor(
    private readonly jobs: DashboardJobs,
    private readonly queries: DashboardQueries,
  ) {}

  async apply(action: DashboardAction, ids: number[]): Promise<ActionReport> {
    const report: ActionReport = { action, done: [], skipped: [], missing: [], message: '' };
    const statuses = await this.queries.statuses(ids);
    const targets: number[] = [];
    for (const id of ids) {
      const status = statuses.get(id);
      if (status === undefined) report.missing.push(id);
      else if (!APPLIES[action].includes(status)) report.skipped.push({ id, reason: status });
      else targets.push(id);
    }
    if (action === 'delete') {
      await this.queries.delete(targets);
      const left = await this.queries.statuses(targets);
      for (const id of targets) {
        const status = left.get(id);
        if (status === undefined) report.done.push(id);
        else report.skipped.push({ id, reason: status });
      }
    } else {
      for (const id of targets) await this.one(action, id, statuses.get(id)!, report);
    }
    report.message = describe(report);
    return report;
  }

  runPending(): Promise<RunPendingSummary> {
    return this.jobs.service.runPending();
  }

  /** One page of the schedules, and the cursor of the next page (null on the last). */
  async schedules(after?: number): Promise<{ schedules: JobSchedule[]; next: number | null }> {
    const page = await this.jobs.service.schedules({ after, limit: SCHEDULES_PAGE + 1 });
    const schedules = page.slice(0, SCHEDULES_PAGE);
    const next = page.length > SCHEDULES_PAGE ? schedules[schedules.length - 1].id : null;
    return { schedules, next };
  }

  /** Pauses or resumes the schedule `key` (a kind's declared one, or a runtime one); says how it went. */
  async toggleSchedule(action: unknown, key: unknown): Promise<ScheduleToggle> {
    if ((action !== 'pause' && action !== 'resume') || typeof key !== 'string' || key === '') {
      throw new BadRequestException('Post a schedule "key" and an "action": pause or resume.');
    }
    const service = this.jobs.service;
    try {
      const changed =
        action === 'pause' ? await service.pauseSchedule(key) : await service.resumeSchedule(key);
      const done = action === 'pause' ? 'Paused' : 'Resumed';
      const already = action === 'pause' ? 'paused' : 'not paused';
      return changed
        ? { outcome: 'done', message: `${done} schedule ${key}.` }
        : { outcome: 'already', message: `Schedule ${key} was ${already} already.` };
    } catch (error) {
      if (error instanceof ScheduleNotFoundError)
        return { outcome: 'missing', message: error.message };
      throw error;
    }
  }

  /** One job; the status may have moved since it was read, which the service reports. */
  private async one(
    action: DashboardAction,
    id: number,
    status: JobStatus,
    report: ActionReport,
  ): Promise<void> {
    try {
      let changed: boolean;
      if (action === 'cancel') changed = await this.jobs.service.cancel(id);
      else if (action === 'run' && status === 'pending')
        changed = (await this.jobs.service.runNow([id])) > 0;
      else changed = (await this.jobs.service.retry(id)) !== null;
      if (changed) report.done.push(id);
      else report.skipped.push({ id, reason: (await this.queries.get(id))?.status ?? 'gone' });
    } catch (error) {
      if (error instanceof JobNotFoundError) report.missing.push(id);
      else if (error instanceof JobNotRetryableError)
        report.skipped.push({ id, reason: error.status });
      else if (error instanceof ScheduleNotCancellableError)
        report.skipped.push({ id, reason: `the schedule ${error.key}: pause it on Schedules` });
      else throw error;
    }
  }
}

function jobs(count: number): string {
  return `${count} job${count === 1 ? '' : 's'}`;
}

/** "Retried 2 jobs (#4, #7); skipped 1 (#9 is running)." */
export function describe(report: ActionReport): string {
  const ids = (list: number[]) =>
    list
      .map((id) => `#${id}`)
      .slice(0, 20)
      .join(', ') + (list.length > 20 ? ', …' : '');
  const parts = [
    `${PAST[report.action]} ${jobs(report.done.length)}${report.done.length ? ` (${ids(report.done)})` : ''}`,
  ];
  if (report.skipped.length) {
    const reasons = report.skipped
      .slice(0, 20)
      .map(({ id, reason }) => `#${id} is ${reason}`)
      .join(', ');
    parts.push(
      `skipped ${report.skipped.length} (${reasons}${report.skipped.length > 20 ? ', …' : ''})`,
    );
  }
  if (report.missing.length)
    parts.push(`${jobs(report.missing.length)} not found (${ids(report.missing)})`);
  return `${parts.join('; ')}.`;
}

export function describeRunPending(summary: RunPendingSummary): string {
  return (
    `Ran ${jobs(summary.ran)} in this instance: ${summary.succeeded} succeeded, ` +
    `${summary.failed} failed, ${summary.snoozed} snoozed.`
  );
}
