import { Module, type DynamicModule } from '@nestjs/common';
import { DashboardAccessGuard } from './dashboard.access.guard.js';
import { DashboardActions } from './dashboard.actions.js';
import { DashboardApiController } from './dashboard.api.controller.js';
import { DashboardCsrf, DashboardCsrfGuard, DashboardJsonPostGuard } from './dashboard.csrf.js';
import { DashboardFlash } from './dashboard.flash.js';
import { DashboardJobs } from './dashboard.jobs.js';
import { DashboardKinds } from './dashboard.kinds.js';
import {
  asyncOptions,
  dashboardDefinition,
  syncOptions,
  type JobsDashboardAsyncOptions,
} from './dashboard.module-definition.js';
import type { JobsDashboardExtras, JobsDashboardOptions } from './dashboard.options.js';
import { DashboardPageFilter } from './dashboard.page.filter.js';
import { DashboardPagesController } from './dashboard.pages.controller.js';
import { DashboardPaths } from './dashboard.paths.js';
import { DashboardQueries } from './dashboard.queries.js';
import { DashboardQueues } from './dashboard.queues.js';

/**
 * Web pages and a JSON API to inspect and act on jobs, mounted at `path` and usable only when the
 * `guard` lets the request through. Off unless imported, next to `JobsModule`:
 * `JobsDashboardModule.forRoot({ path: '/jobs', guard: AdminGuard })`.
 */
@Module({
  controllers: [DashboardApiController, DashboardPagesController],
  providers: [
    DashboardAccessGuard,
    DashboardCsrfGuard,
    DashboardJsonPostGuard,
    DashboardCsrf,
    DashboardFlash,
    DashboardPaths,
    DashboardJobs,
    DashboardQueries,
    DashboardActions,
    DashboardKinds,
    DashboardQueues,
    DashboardPageFilter,
  ],
})
export class JobsDashboardModule {
  /** `path` and `guard` are required; the other options have defaults. */
  static forRoot(options: JobsDashboardOptions & JobsDashboardExtras): DynamicModule {
    const { path, guard, ...rest } = options;
    return dashboardDefinition(JobsDashboardModule, { path, guard }, syncOptions(rest));
  }

  /** `path` and `guard` as they are (the route must be known at import); the rest from `useFactory`. */
  static forRootAsync(options: JobsDashboardAsyncOptions): DynamicModule {
    return dashboardDefinition(
      JobsDashboardModule,
      options,
      asyncOptions(options),
      options.imports,
    );
  }
}
