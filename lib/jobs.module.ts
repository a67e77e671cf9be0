import {
  Inject,
  Module,
  type DynamicModule,
  type OnModuleInit,
  type Provider,
} from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { JobEntity } from './entities/job.entity.js';
import { JobKindEntity } from './entities/job-kind.entity.js';
import { JOBS_DATA_SOURCE, JOBS_RESOLVED_OPTIONS } from './jobs.constants.js';
import { JobsExplorer } from './jobs.explorer.js';
import {
  ConfigurableJobsModule,
  JOBS_ASYNC_OPTIONS_TYPE,
  JOBS_MODULE_OPTIONS,
  JOBS_OPTIONS_TYPE,
  resolveJobsOptions,
} from './jobs.module-definition.js';
import { JobsRegistry } from './jobs.registry.js';
import { JobsEvents } from './events/jobs.events.js';
import { JobsHealthIndicator } from './health/jobs.health.js';
import { JobsService } from './jobs.service.js';
import type {
  JobsModuleOptions,
  ResolvedJobsOptions,
} from './interfaces/jobs-module-options.interface.js';
import { JobsRunner } from './runner/jobs.runner.js';
import { JobStore } from './storage/job.store.js';
import { JobQueries } from './storage/job.queries.js';
import { KindQueries } from './storage/kind.queries.js';
import { Wakeups } from './wakeups/wakeups.js';
import { JobWaiters } from './waiting/job-waiters.js';
import { JobsTelemetry } from './telemetry/jobs.telemetry.js';

/** The entities the module stores, for apps that list entities by hand instead of `autoLoadEntities`. */
export const JOBS_ENTITIES = [JobEntity, JobKindEntity];

/**
 * A job system in the app's own database, through its own TypeORM connection.
 * `JobsModule.forRoot({ ... })` or `forRootAsync({ useFactory, inject })`; extras `isGlobal`
 * (default true) and `dataSource` (the name of a TypeORM connection; the default one if omitted).
 */
@Module({})
export class JobsModule extends ConfigurableJobsModule implements OnModuleInit {
  constructor(
    private readonly registry: JobsRegistry,
    @Inject(JobStore) private readonly store: JobStore,
  ) {
    super();
  }

  /**
   * Records the kinds of the `kinds` option, so a producer can enqueue them before any worker has
   * started. Nest calls a module's own hook after its providers', so the explorer has prepared the
   * tables and registered the handlers by now.
   */
  async onModuleInit(): Promise<void> {
    await this.store.upsertKinds(this.registry.declaredWithoutHandler());
  }

  static forRoot(options: typeof JOBS_OPTIONS_TYPE = {}): DynamicModule {
    return JobsModule.withInternals(super.forRoot(options), options.dataSource);
  }

  static forRootAsync(options: typeof JOBS_ASYNC_OPTIONS_TYPE): DynamicModule {
    return JobsModule.withInternals(super.forRootAsync(options), options.dataSource);
  }

  private static withInternals(
    definition: DynamicModule,
    dataSource: string | undefined,
  ): DynamicModule {
    const providers: Provider[] = [
      {
        provide: JOBS_RESOLVED_OPTIONS,
        useFactory: (options: JobsModuleOptions) => resolveJobsOptions(options),
        inject: [JOBS_MODULE_OPTIONS],
      },
      { provide: JOBS_DATA_SOURCE, useExisting: getDataSourceToken(dataSource) },
      {
        provide: JobQueries,
        useFactory: (source: DataSource) => new JobQueries(source),
        inject: [JOBS_DATA_SOURCE],
      },
      {
        provide: KindQueries,
        useFactory: (source: DataSource) => new KindQueries(source),
        inject: [JOBS_DATA_SOURCE],
      },
      {
        provide: JobStore,
        useFactory: (source: DataSource) => new JobStore(source),
        inject: [JOBS_DATA_SOURCE],
      },
      {
        provide: Wakeups,
        useFactory: (source: DataSource, options: ResolvedJobsOptions) =>
          new Wakeups(source, options.notify),
        inject: [JOBS_DATA_SOURCE, JOBS_RESOLVED_OPTIONS],
      },
      {
        provide: JobWaiters, // no Nest in it; Nest calls its beforeApplicationShutdown
        useFactory: (...deps: ConstructorParameters<typeof JobWaiters>) => new JobWaiters(...deps),
        inject: [JobQueries, JobStore, Wakeups, JOBS_RESOLVED_OPTIONS],
      },
      {
        provide: JobsTelemetry, // no Nest in it; Nest calls its beforeApplicationShutdown
        useFactory: (options: ResolvedJobsOptions, queries: JobQueries) =>
          JobsTelemetry.create(options.telemetry, (now) => queries.dueByQueue(now)),
        inject: [JOBS_RESOLVED_OPTIONS, JobQueries],
      },
      JobsRegistry,
      JobsEvents,
      JobsExplorer,
      JobsRunner,
      JobsService,
      JobsHealthIndicator,
    ];
    return {
      ...definition,
      imports: [
        ...(definition.imports ?? []),
        DiscoveryModule,
        ScheduleModule.forRoot(),
        TypeOrmModule.forFeature(JOBS_ENTITIES, dataSource),
      ],
      providers: [...(definition.providers ?? []), ...providers],
      exports: [JobsService, JobsHealthIndicator, TypeOrmModule],
    };
  }
}
