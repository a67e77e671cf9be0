import { Injectable, Module, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import {
  DuplicateJobKindError,
  InvalidJobsOptionError,
  JobKind,
  JobKindEntity,
  JobsModule,
  JobsService,
  UnsupportedDatabaseError,
  type JobContext,
} from 'nestjs-typeorm-jobs';
import { JobStore } from '../lib/storage/job.store.js';
import { describeBackends } from './support/backends.js';
import {
  closeCleaners,
  freshDatabase,
  quietLogger,
  startApp,
  waitForStatus,
  withApp,
} from './support/fixtures.js';

@Injectable()
class MailJobs {
  @JobKind('mail.send')
  send(job: JobContext<{ to: string }>) {
    return `sent to ${job.data.to}`;
  }

  @JobKind('mail.bounce', { maxAttempts: 2 })
  bounce() {
    return undefined;
  }

  notAJob() {
    return 'ignored';
  }
}

@Injectable()
class OtherMailJobs {
  @JobKind('mail.send')
  sendAgain() {
    return undefined;
  }
}

@Injectable({ scope: Scope.REQUEST })
class RequestScopedJobs {
  @JobKind('scoped.kind')
  run() {
    return undefined;
  }
}

afterAll(closeCleaners);

describeBackends('discovery', (backend) => {
  it('finds @JobKind methods on ordinary providers and records each kind once', async () => {
    const database = await freshDatabase(backend);
    const first = await startApp({ database, providers: [MailJobs] });
    const second = await startApp({ database, providers: [MailJobs] });
    try {
      const kinds = await first.get(JobsService).kinds();
      expect(kinds.map((kind) => kind.name)).toEqual(['mail.bounce', 'mail.send']);
      expect(kinds.every((kind) => kind.resolves)).toBe(true);
      expect(kinds[0].created).toBeInstanceOf(Date);
      const rows = await first
        .get<DataSource>(getDataSourceToken())
        .getRepository(JobKindEntity)
        .count();
      expect(rows).toBe(2);
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('reports kinds registered by another instance as not resolving here, and can still enqueue them', async () => {
    const database = await freshDatabase(backend);
    const worker = await startApp({ database, providers: [MailJobs], jobs: { runner: false } });
    const web = await startApp({ database, jobs: { runner: false } });
    try {
      const kinds = await web.get(JobsService).kinds();
      expect(kinds.find((kind) => kind.name === 'mail.send')?.resolves).toBe(false);
      const job = await web.get(JobsService).enqueue('mail.send', { to: 'a@b.c' });
      expect(job.status).toBe('pending');
      expect(job.kindId).toBe(kinds.find((kind) => kind.name === 'mail.send')?.id);
    } finally {
      await web.close();
      await worker.close();
    }
  });

  it('fails at startup when two handlers share a name', async () => {
    const database = await freshDatabase(backend);
    await expect(startApp({ database, providers: [MailJobs, OtherMailJobs] })).rejects.toThrow(
      DuplicateJobKindError,
    );
    await expect(startApp({ database, providers: [MailJobs, OtherMailJobs] })).rejects.toThrow(
      /"mail\.send" is declared twice: by MailJobs\.send and by OtherMailJobs\.sendAgain/,
    );
  });

  it('warns about and skips handlers on request-scoped providers', async () => {
    const warnings: string[] = [];
    const database = await freshDatabase(backend);
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({
          ...database,
          autoLoadEntities: true,
          synchronize: true,
          retryAttempts: 0,
        } as never),
        JobsModule.forRoot({ runner: false }),
      ],
      providers: [RequestScopedJobs, MailJobs],
    })
      .setLogger({ ...quietLogger, warn: (message: string) => void warnings.push(String(message)) })
      .compile();
    await moduleRef.init();
    try {
      const names = (await moduleRef.get(JobsService).kinds()).map((kind) => kind.name);
      expect(names).not.toContain('scoped.kind');
      expect(
        warnings.some((w) => w.includes('RequestScopedJobs.run') && w.includes('request-scoped')),
      ).toBe(true);
    } finally {
      await moduleRef.close();
    }
  });

  it('rejects invalid module options at startup, naming the option', async () => {
    const database = await freshDatabase(backend);
    await expect(startApp({ database, jobs: { concurrency: 0 } })).rejects.toThrow(
      InvalidJobsOptionError,
    );
    await expect(startApp({ database, jobs: { pollInterval: -5 } })).rejects.toThrow(
      /"pollInterval"/,
    );
    await expect(startApp({ database, jobs: { queues: [] } })).rejects.toThrow(/"queues"/);
    await expect(
      startApp({ database, jobs: { asyncClaimCommit: 'yes' as never } }),
    ).rejects.toThrow(/"asyncClaimCommit"/);
    await expect(startApp({ database, jobs: { concurency: 3 } as never })).rejects.toThrow(
      /"concurency"/,
    );
    await expect(startApp({ database, providers: [BadKindOptions] })).rejects.toThrow(
      /maxAttempts of job kind "bad.kind"/,
    );
  });

  it('takes its options from forRootAsync with injected dependencies', async () => {
    const database = await freshDatabase(backend);
    @Module({ providers: [{ provide: 'CONCURRENCY', useValue: 3 }], exports: ['CONCURRENCY'] })
    class ConfigModule {}
    await withApp(
      {
        database,
        providers: [MailJobs],
        jobsModule: JobsModule.forRootAsync({
          imports: [ConfigModule],
          inject: ['CONCURRENCY'],
          useFactory: (concurrency: number) => ({ concurrency, pollInterval: 50 }),
        }),
      },
      async (app) => {
        const job = await app.get(JobsService).enqueue('mail.send', { to: 'x@y.z' });
        expect((await waitForStatus(app, job.id, 'succeeded')).logs).toContain('sent to x@y.z');
      },
    );
  });
});

@Injectable()
class BadKindOptions {
  @JobKind('bad.kind', { maxAttempts: 0 })
  run() {
    return undefined;
  }
}

describe('data sources', () => {
  it('works through a named TypeORM connection', async () => {
    const { backends } = await import('./support/backends.js');
    const database = await backends[0].options();
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({
          ...database,
          name: 'jobsdb',
          autoLoadEntities: true,
          synchronize: true,
        } as never),
        JobsModule.forRoot({ pollInterval: 50, dataSource: 'jobsdb' }),
      ],
      providers: [MailJobs],
    })
      .setLogger(quietLogger)
      .compile();
    await moduleRef.init();
    try {
      const job = await moduleRef.get(JobsService).enqueue('mail.send', { to: 'n@m.e' });
      expect((await waitForStatus(moduleRef, job.id, 'succeeded')).result).toBe('sent to n@m.e');
    } finally {
      await moduleRef.close();
    }
  });

  it('refuses a database type it cannot drive, naming the supported ones', () => {
    // No other TypeORM driver is installed here, so the store is given a data source that says it is one.
    const oracle = { options: { type: 'oracle' } } as unknown as DataSource;
    expect(() => new JobStore(oracle)).toThrow(UnsupportedDatabaseError);
    expect(() => new JobStore(oracle)).toThrow(
      /postgres, mysql, mariadb, better-sqlite3 or sqlite/,
    );
  });
});
