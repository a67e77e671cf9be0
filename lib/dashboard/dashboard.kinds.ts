import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { fromJobsModule } from './dashboard.lookup.js';
import { JobsService } from '../jobs.service.js';
import { DashboardQueries } from './dashboard.queries.js';
import type { KindRow } from './dashboard.types.js';

/** Job kinds as stored (JobsService.kinds(): name, times, resolves here) with their jobs per status. */
@Injectable()
export class DashboardKinds implements OnModuleInit {
  private service!: JobsService;

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly queries: DashboardQueries,
  ) {}

  onModuleInit(): void {
    this.service = fromJobsModule(this.moduleRef, JobsService);
  }

  async names(): Promise<string[]> {
    return (await this.service.kinds()).map((kind) => kind.name);
  }

  async withCounts(): Promise<KindRow[]> {
    const [kinds, counts] = await Promise.all([this.service.kinds(), this.queries.countsByKind()]);
    const empty = { pending: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
    return kinds.map((kind) => ({ ...kind, counts: counts.get(kind.name) ?? { ...empty } }));
  }
}
