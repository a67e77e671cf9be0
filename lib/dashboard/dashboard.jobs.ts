import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { DataSource } from 'typeorm';
import { JOBS_DATA_SOURCE } from '../jobs.constants.js';
import { JobsService } from '../jobs.service.js';

/**
 * The app's JobsModule, wherever it was imported (it need not be global): its service and its
 * DataSource, which the dashboard reads and acts through. Looked up once everything exists, and
 * checked at startup so a missing JobsModule fails loudly.
 */
@Injectable()
export class DashboardJobs implements OnModuleInit {
  private found: { service: JobsService; dataSource: DataSource } | null = null;

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

  private lookUp(): { service: JobsService; dataSource: DataSource } {
    if (this.found) return this.found;
    try {
      this.found = {
        service: this.moduleRef.get(JobsService, { strict: false }),
        dataSource: this.moduleRef.get<DataSource>(JOBS_DATA_SOURCE, { strict: false }),
      };
      return this.found;
    } catch {
      throw new Error(
        'JobsDashboardModule needs JobsModule: import JobsModule.forRoot() (or forRootAsync()) in the same application.',
      );
    }
  }
}
