export { JobsDashboardModule } from './dashboard.module.js';
export type { JobsDashboardAsyncOptions } from './dashboard.module-definition.js';
export type { JobsDashboardExtras, JobsDashboardOptions } from './dashboard.options.js';
export type {
  ActionReport,
  DashboardAction,
  JobsPage,
  KindRow,
  MinuteBucket,
  StatusCounts,
} from './dashboard.types.js';
