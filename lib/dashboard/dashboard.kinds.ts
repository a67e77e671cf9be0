import { Injectable } from '@nestjs/common';
import { DashboardJobs } from './dashboard.jobs.js';
import { DashboardQueries } from './dashboard.queries.js';
import type { KindRow } from './dashboard.types.js';

/**
 * Job kinds as stored (JobsService.kinds(): name, times, resolves here) with their jobs per status
 * and their limits.
 */
@Injectable()
export class DashboardKinds {
  constructor(
    private readonly jobs: DashboardJobs,
    private readonly queries: DashboardQueries,
  ) {}

  async names(): Promise<string[]> {
    return (await this.jobs.service.kinds()).map((kind) => kind.name);
  }

  /** Kinds no running instance handles (see JobsService.kinds()). */
  async unhandled(): Promise<Set<string>> {
    const kinds = await this.jobs.service.kinds();
    return new Set(kinds.filter((kind) => !kind.handled).map((kind) => kind.name));
  }

  /** Every kind with its jobs per status and the limits its code declares. */
  async withCounts(): Promise<KindRow[]> {
    const [kinds, counts] = await Promise.all([
      this.jobs.service.kinds(),
      this.queries.countsByKind(),
    ]);
    const empty = { pending: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, paused: 0 };
    return kinds.map((kind) => ({
      ...kind,
      counts: counts.get(kind.name) ?? { ...empty },
    }));
  }
}
