import { Injectable, Module } from '@nestjs/common';
import {
  JobKind,
  JobsModule,
  JobsService,
  type JobContext,
  type JobsModuleOptions,
} from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import {
  closeCleaners,
  freshDatabase,
  startApp,
  waitForStatus,
  withApp,
} from './support/fixtures.js';

// The README's quick start, split the way apps are: the root module imports TypeORM and JobsModule,
// a feature module holds the handler and a service that enqueues.
@Injectable()
class WelcomeJobs {
  @JobKind('users.welcome')
  welcome(job: JobContext<{ email: string }>) {
    return `welcomed ${job.data.email}`;
  }
}

@Injectable()
class UsersService {
  constructor(private readonly jobs: JobsService) {}

  signUp(email: string) {
    return this.jobs.enqueue('users.welcome', { email });
  }
}

@Module({ providers: [UsersService, WelcomeJobs] })
class UsersModule {}

afterAll(closeCleaners);

describeBackends('JobsModule in feature modules', (backend) => {
  it('lets a feature module inject JobsService with the default options', async () => {
    await withApp(
      { database: await freshDatabase(backend), imports: [UsersModule] },
      async (app) => {
        const job = await app.get(UsersService).signUp('ada@example.com');
        expect((await waitForStatus(app, job.id, 'succeeded')).result).toBe(
          'welcomed ada@example.com',
        );
      },
    );
  });

  it('is global from forRootAsync too', async () => {
    await withApp(
      {
        database: await freshDatabase(backend),
        imports: [UsersModule],
        jobsModule: JobsModule.forRootAsync({
          useFactory: (): JobsModuleOptions => ({ pollInterval: 50 }),
        }),
      },
      async (app) => {
        const job = await app.get(UsersService).signUp('grace@example.com');
        expect((await waitForStatus(app, job.id, 'succeeded')).status).toBe('succeeded');
      },
    );
  });

  it('with isGlobal: false, exports JobsService only to the module that imports it', async () => {
    const database = await freshDatabase(backend);
    await expect(
      startApp({
        database,
        imports: [UsersModule],
        jobsModule: JobsModule.forRoot({ isGlobal: false }),
      }),
    ).rejects.toThrow(/resolve dependencies of the UsersService/);
  });
});
