import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { JobsDashboardModule, JobsModule } from 'nestjs-typeorm-jobs';
import { AccountModule } from './account/account.module.js';
import { typeOrmOptions, type SampleAppOptions } from './app.options.js';
import { DashboardGuard } from './dashboard.guard.js';
import { DigestModule } from './digest/digest.module.js';
import { FlakyModule } from './flaky/flaky.module.js';
import { InvoiceModule } from './invoice/invoice.module.js';
import { MailModule } from './mail/mail.module.js';
import { ReportModule } from './report/report.module.js';
import { StatsModule } from './stats/stats.module.js';
import { StatusModule } from './status/status.module.js';
import { VideoModule } from './video/video.module.js';
import { WebmentionModule } from './webmention/webmention.module.js';

/**
 * The whole sample: one TypeORM connection (a SQLite file unless told otherwise), the jobs module
 * on it, and the features that enqueue and handle jobs.
 */
@Module({})
export class AppModule {
  static forRoot(options: SampleAppOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        TypeOrmModule.forRoot(typeOrmOptions(options)),
        // Global by default (like TypeOrmModule.forRoot): every feature module can inject
        // JobsService without importing JobsModule.
        JobsModule.forRoot({ pollInterval: 1000, concurrency: 10, runner: options.runner ?? true }),
        // The dashboard at /jobs, behind HTTP basic auth (admin / $JOBS_DASHBOARD_PASSWORD, default "jobs").
        JobsDashboardModule.forRoot({ path: '/jobs', guard: DashboardGuard }),
        WebmentionModule,
        FlakyModule,
        StatsModule,
        DigestModule,
        ReportModule,
        InvoiceModule,
        MailModule,
        AccountModule,
        VideoModule,
        StatusModule,
      ],
    };
  }
}
