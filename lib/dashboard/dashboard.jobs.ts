import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { DataSource } from 'typeorm';
import { JOBS_DATA_SOURCE } from '../jobs.constants.js';
import { JobsService } from '../jobs.service.js';
import { WaitingReasons } from '../limits/waiting-reasons.js';
import { JobQueries } from '../storage/job.queries.js';
import { JobStore } from '../storage/job.store.js';
import { KindQueries } from '../storage/kind.queries.js';

interface Found {
  service: JobsService;
  dataSource: DataSource;
  queries: JobQueries;
  kinds: KindQueries;
  store: JobStore;
  waiting: WaitingReasons;
}

/**
 * The app's JobsModule, wherever it was imported (it need not be global): its service and its
 * DataSource, which the dashboard reads and acts through. Looked up once everything exists, and
 * checked at startup so a missing JobsModule fails loudly.
 */
@Injectable()
export class DashboardJobs implements OnModuleInit {
  private found: Found | null = null;

  constructor(private readonly moduleRef: ModuleRef) {}

  onModuleInit(): void {
    this.lookUp();
  }

  get service(): JobsService {
    return this.lookUp().service;
  }

  get dataSource(): DataSource {
    return this.lookUp().dataSource;
  }

  /** The module's reads (lists with previews, counts, the per-minute series). */
  get queries(): JobQueries {
    return this.lookUp().queries;
  }

  /** The module's reads about kinds (the limits their code declares). */
  get kinds(): KindQueries {
    return this.lookUp().kinds;
  }

  /** Why the pending, due jobs a page shows wait (a paused queue, a limit), as `get()` says. */
  get waiting(): WaitingReasons {
    return this.lookUp().waiting;
  }

  /** The module's writes (the dashboard's delete). */
  get store(): JobStore {
    return this.lookUp().store;
  }

  private lookUp(): Found {
    if (this.found) return this.found;
    try {
      const kinds = this.moduleRef.get(KindQueries, { strict: false });
      const store = this.moduleRef.get(JobStore, { strict: false });
      this.found = {
        service: this.moduleRef.get(JobsService, { strict: false }),
        dataSource: this.moduleRef.get<DataSource>(JOBS_DATA_SOURCE, { strict: false }),
        queries: this.moduleRef.get(JobQueries, { strict: false }),
        kinds,
        store,
        waiting: new WaitingReasons(store, kinds),
      };
      return this.found;
    } catch {
      throw new Error(
        'JobsDashboardModule needs JobsModule: import JobsModule.forRoot() (or forRootAsync()) in the same application.',
      );
    }
  }
}
