import { Injectable } from '@nestjs/common';
import { JobsRunner } from '../runner/jobs.runner.js';
import { JobQueries } from '../storage/job.queries.js';
import { JobsService } from '../jobs.service.js';

export interface JobsHealthOptions {
  /** Down when the oldest due job has waited longer than this (ms). Default 60000. */
  maxDueAge?: number;
}

/** `{ [key]: { status, ... } }`: the shape @nestjs/terminus expects from an indicator. */
export type JobsHealthResult = Record<string, { status: 'up' | 'down'; [detail: string]: unknown }>;

/**
 * A health indicator for @nestjs/terminus, without depending on it: use it in a health check as
 * `() => jobsHealth.check('jobs')`. Down when this instance's runner has not reached the database
 * for three poll intervals, or when a due job has waited longer than `maxDueAge`. Its details
 * name the kinds with pending jobs that no running instance handles (`unhandledKinds`): their jobs
 * wait until a handler is deployed again or they are cancelled.
 */
@Injectable()
export class JobsHealthIndicator {
  constructor(
    private readonly runner: JobsRunner,
    private readonly queries: JobQueries,
    private readonly service: JobsService,
  ) {}

  async check(key = 'jobs', options: JobsHealthOptions = {}): Promise<JobsHealthResult> {
    const now = Date.now();
    const runner = this.runner.status();
    const maxDueAge = options.maxDueAge ?? 60_000;
    const oldest = await this.queries.oldestDue(now);
    const oldestDueAge = oldest ? now - oldest.getTime() : 0;
    const runnerAlive =
      !runner.enabled ||
      (!runner.stopping &&
        runner.lastPollAt !== null &&
        now - runner.lastPollAt <= 3 * runner.pollInterval + 1_000);
    const details = {
      runner: runner.enabled ? (runnerAlive ? 'polling' : 'stalled') : 'off',
      running: runner.running,
      oldestDueAgeMs: oldestDueAge,
      unhandledKinds: (await this.service.unhandledKinds()).map(({ kind, pending }) => ({
        kind,
        pending,
      })),
    };
    const up = runnerAlive && oldestDueAge <= maxDueAge;
    const result: JobsHealthResult = { [key]: { status: up ? 'up' : 'down', ...details } };
    if (up) return result;
    // Terminus recognises a failed check by this flag and reads `causes`; no import needed.
    throw Object.assign(new Error(`Jobs health check "${key}" failed`), {
      isHealthCheckError: true,
      causes: result,
    });
  }
}
