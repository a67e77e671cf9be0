import { Injectable } from '@nestjs/common';
import { EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import {
  JobKind,
  JobsService,
  OnJobEvent,
  type JobContext,
  type JobEvent,
} from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import {
  closeCleaners,
  freshDatabase,
  startApp,
  waitFor,
  waitForStatus,
  withApp,
} from './support/fixtures.js';

@Injectable()
class Work {
  @JobKind('ok')
  ok() {
    return undefined;
  }

  @JobKind('flaky', { maxAttempts: 2, backoff: 10 })
  flaky(job: JobContext) {
    throw new Error(`nope ${job.attempt}`);
  }
}

@Injectable()
class Audit {
  readonly seen: JobEvent[] = [];
  readonly flakyOnly: string[] = [];

  @OnJobEvent(['enqueued', 'started', 'succeeded', 'failed', 'dead', 'retried', 'cancelled'])
  record(event: JobEvent) {
    this.seen.push(event);
  }

  @OnJobEvent('dead', { kind: 'flaky' })
  deadFlaky(event: JobEvent) {
    this.flakyOnly.push(`${event.event} #${event.id}`);
  }

  @OnJobEvent('started')
  throws() {
    throw new Error('a broken listener does not break the job');
  }
}

@Injectable()
class EmitterListener {
  readonly succeeded: number[] = [];
  @OnEvent('jobs.succeeded')
  onSucceeded(event: JobEvent) {
    this.succeeded.push(event.id);
  }
}

afterAll(closeCleaners);

describeBackends('lifecycle events', (backend) => {
  it('tells @OnJobEvent listeners what happens to each job', async () => {
    await withApp(
      {
        database: await freshDatabase(backend),
        providers: [Work, Audit],
      },
      async (app) => {
        const jobs = app.get(JobsService);
        const audit = app.get(Audit);
        const ok = await jobs.enqueue('ok', {});
        const flaky = await jobs.enqueue('flaky', {});
        await waitForStatus(app, ok.id, 'succeeded');
        await waitForStatus(app, flaky.id, 'failed');
        await jobs.retry(flaky.id);
        const later = await jobs.enqueue('ok', {}, { delay: 60_000 });
        await jobs.cancel(later.id);
        await waitFor(
          () => audit.seen.filter((e) => e.id === flaky.id && e.event === 'dead').length === 2,
          'two deaths',
        );

        const of = (id: number) => audit.seen.filter((e) => e.id === id).map((e) => e.event);
        // 'enqueued' is emitted when the INSERT returns; a runner that took the job at once may have
        // started it by then (seen in CI), so only the run events are in a guaranteed order.
        const runs = (id: number) => of(id).filter((event) => event !== 'enqueued');
        expect(of(ok.id).sort()).toEqual(['enqueued', 'started', 'succeeded']);
        expect(runs(ok.id)).toEqual(['started', 'succeeded']);
        expect(of(flaky.id).filter((event) => event === 'enqueued')).toHaveLength(1);
        expect(runs(flaky.id).slice(0, 4)).toEqual(['started', 'failed', 'started', 'dead']);
        expect(of(flaky.id)).toContain('retried');
        expect(of(later.id)).toEqual(['enqueued', 'cancelled']);
        const failed = audit.seen.find((e) => e.id === flaky.id && e.event === 'failed')!;
        expect(failed).toMatchObject({ kind: 'flaky', attempt: 1 });
        expect((failed.error as Error).message).toBe('nope 1');
        expect(audit.flakyOnly).toEqual([`dead #${flaky.id}`, `dead #${flaky.id}`]);
      },
    );
  });

  it('emits the same events as jobs.<event> through @nestjs/event-emitter when the app has it', async () => {
    await withApp(
      {
        database: await freshDatabase(backend),
        providers: [Work, EmitterListener],
        imports: [EventEmitterModule.forRoot()],
      },
      async (app) => {
        const job = await app.get(JobsService).enqueue('ok', {});
        await waitFor(
          () => app.get(EmitterListener).succeeded.includes(job.id),
          'the emitted event',
        );
      },
    );
  });
});
