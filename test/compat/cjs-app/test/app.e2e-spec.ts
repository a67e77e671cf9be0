import { Test, type TestingModule } from '@nestjs/testing';
import { JobsService } from 'nestjs-typeorm-jobs';
import { AppModule } from '../src/app.module';
import { UsersService } from '../src/users.module';

// The app's own e2e test, under the jest config `nest new` writes (test/jest-e2e.json) plus the one
// line the README asks for: jest's CommonJS runtime cannot require() an ES module on Node < 24.9,
// so ts-jest must transform this package.
describe('welcome jobs', () => {
  let app: TestingModule;

  beforeAll(async () => {
    app = await Test.createTestingModule({ imports: [AppModule] }).compile();
    await app.init();
  });

  afterAll(() => app.close());

  it('runs the job a sign-up enqueues', async () => {
    const job = await app.get(UsersService).signUp('grace@example.com');
    const jobs = app.get(JobsService);
    const deadline = Date.now() + 20_000;
    let seen = await jobs.get(job.id);
    while (seen?.status !== 'succeeded' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      seen = await jobs.get(job.id);
    }
    expect(seen?.result).toEqual({ welcomed: 'grace@example.com' });
  });
});
