import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { getDataSourceToken } from '@nestjs/typeorm';
import {
  JobKind,
  JobsService,
  OnJobEvent,
  type JobContext,
  type JobEvent,
} from 'nestjs-typeorm-jobs';
import { describeBackends, type Backend } from './support/backends.js';
import {
  closeCleaners,
  freshDatabase,
  startApp,
  waitFor,
  waitForStatus,
} from './support/fixtures.js';

/** Handler calls per job id, across the apps of a test. */
const calls = new Map<number, number>();
const count = (id: number) => calls.set(id, (calls.get(id) ?? 0) + 1);

/** An Error whose `stack` throws when read. */
function errorWithThrowingStack(message: string): Error {
  const error = new Error(message);
  Object.defineProperty(error, 'stack', {
    get() {
      throw new Error('no stack for you');
    },
  });
  return error;
}

@Injectable()
class Throwers {
  @JobKind('throws.bare', { maxAttempts: 1 })
  bare() {
    throw Object.create(null);
  }

  @JobKind('throws.object-from-tostring', { maxAttempts: 1 })
  objectFromToString() {
    throw { toString: () => ({}), valueOf: () => ({}) };
  }

  @JobKind('throws.tostring-throws', { maxAttempts: 1 })
  toStringThrows() {
    throw {
      toString() {
        throw new Error('not today');
      },
    };
  }

  @JobKind('throws.stack-getter', { maxAttempts: 1 })
  stackGetter() {
    throw errorWithThrowingStack('a message');
  }

  @JobKind('throws.huge', { maxAttempts: 1 })
  huge(job: JobContext) {
    for (let i = 0; i < 200_000; i++) job.log(`line ${i} ${'x'.repeat(100)}`);
    throw new Error('e'.repeat(5_000_000));
  }

  @JobKind('ok')
  ok(job: JobContext) {
    count(job.id);
    return { id: job.id };
  }

  @JobKind('maybe.poison')
  maybePoison(job: JobContext<{ poison: boolean }>) {
    count(job.id);
    job.log('ran');
    return { poison: job.data.poison };
  }
}

@Injectable()
class Retrying {
  @JobKind('fails.once', { backoff: 100 })
  failsOnce(job: JobContext) {
    if (job.attempt === 1) throw new Error('first attempt fails');
  }

  @JobKind('delayed')
  delayed(job: JobContext) {
    count(job.id);
  }
}

@Injectable()
class Never {
  @JobKind('never.settles')
  never() {
    return new Promise(() => undefined);
  }
}

/** What listeners saw: each `succeeded` with the job read back by the listener itself. */
@Injectable()
class ReadBack {
  static seen: Array<{ event: JobEvent; stored: unknown }> = [];
  static lateReads: string[] = [];

  constructor(private readonly jobs: JobsService) {}

  @OnJobEvent('succeeded', { kind: 'ok' })
  async onSucceeded(event: JobEvent) {
    const job = await this.jobs.get(event.id);
    ReadBack.seen.push({ event, stored: job && { status: job.status, result: job.result } });
  }

  @OnJobEvent('succeeded', { kind: 'delayed' })
  async slowListener(event: JobEvent) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    try {
      const job = await this.jobs.get(event.id);
      ReadBack.lateReads.push(`read ${job?.status}`);
    } catch (error) {
      ReadBack.lateReads.push(`failed: ${(error as Error).message}`);
    }
  }
}

/** A database trigger that refuses to store a result containing "poison": a row the database refuses. */
async function installPoisonTrigger(
  backend: Backend,
  source: DataSource,
): Promise<() => Promise<void>> {
  if (backend.name === 'postgres') {
    await source.query(`CREATE OR REPLACE FUNCTION refuse_poison() RETURNS trigger AS $$
      BEGIN
        IF NEW.result::text LIKE '%"poison":true%' THEN RAISE EXCEPTION 'poison refused'; END IF;
        RETURN NEW;
      END $$ LANGUAGE plpgsql`);
    await source.query(`CREATE TRIGGER refuse_poison BEFORE UPDATE ON nest_jobs
      FOR EACH ROW EXECUTE FUNCTION refuse_poison()`);
    return async () => {
      await source.query('DROP TRIGGER IF EXISTS refuse_poison ON nest_jobs');
    };
  }
  if (backend.name === 'mysql') {
    await source.query(`CREATE TRIGGER refuse_poison BEFORE UPDATE ON nest_jobs FOR EACH ROW
      BEGIN
        IF NEW.result LIKE '%"poison":true%' THEN
          SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poison refused';
        END IF;
      END`);
    return async () => {
      await source.query('DROP TRIGGER IF EXISTS refuse_poison');
    };
  }
  await source.query(`CREATE TRIGGER refuse_poison BEFORE UPDATE ON nest_jobs FOR EACH ROW
    WHEN NEW.result LIKE '%"poison":true%' BEGIN SELECT RAISE(ABORT, 'poison refused'); END`);
  return async () => {
    await source.query('DROP TRIGGER IF EXISTS refuse_poison');
  };
}

describeBackends('runner hardening', (backend) => {
  let app: TestingModule | undefined;
  let other: TestingModule | undefined;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeAll(() => process.on('unhandledRejection', onUnhandled));
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await closeCleaners();
  });
  beforeEach(() => {
    calls.clear();
    unhandled.length = 0;
    ReadBack.seen = [];
    ReadBack.lateReads = [];
  });
  afterEach(async () => {
    await app?.close();
    await other?.close();
    app = other = undefined;
  });

  it('a handler that throws a value String() cannot convert fails its job; the process and other jobs carry on', async () => {
    app = await startApp({ database: await freshDatabase(backend), providers: [Throwers] });
    const jobs = app.get(JobsService);
    const kinds = [
      'throws.bare',
      'throws.object-from-tostring',
      'throws.tostring-throws',
      'throws.stack-getter',
    ];
    const bad = await Promise.all(kinds.map((kind) => jobs.enqueue(kind, null)));
    const good = await Promise.all([1, 2, 3, 4, 5].map((n) => jobs.enqueue('ok', { n })));
    for (const job of bad) {
      const done = await waitForStatus(app, job.id, 'failed');
      expect(done.lastError).toEqual(expect.any(String));
      expect(done.lastError!.length).toBeGreaterThan(0);
    }
    expect((await jobs.get(bad[0].id))!.lastError).toContain('cannot be converted to text');
    expect((await jobs.get(bad[3].id))!.lastError).toBe('Error: a message');
    for (const job of good) await waitForStatus(app, job.id, 'succeeded');
    expect(unhandled).toEqual([]);
  });

  it('a 5 MB error and 200,000 log lines are stored bounded, and the other jobs of the batch run once', async () => {
    app = await startApp({ database: await freshDatabase(backend), providers: [Throwers] });
    const jobs = app.get(JobsService);
    const noisy = await jobs.enqueue('throws.huge', null);
    const good = await jobs.enqueueMany(
      Array.from({ length: 30 }, (_, n) => ({ kind: 'ok', data: { n } })),
    );
    const failed = await waitForStatus(app, noisy.id, 'failed');
    expect(failed.lastError!.length).toBeLessThanOrEqual(4_000);
    expect(failed.lastError).toContain('more characters cut');
    expect(failed.logs!.length).toBeLessThanOrEqual(16_000);
    expect(failed.logs).toContain('line 199999');
    for (const job of good) await waitForStatus(app, job.id, 'succeeded');
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
    expect(calls.size).toBe(30);
  });

  it('an outcome the database refuses is written without its result; the other runs of its batch are not run again', async () => {
    const database = await freshDatabase(backend);
    app = await startApp({ database, providers: [Throwers], jobs: { concurrency: 50 } });
    const source = app.get<DataSource>(getDataSourceToken());
    const uninstall = await installPoisonTrigger(backend, source);
    try {
      const jobs = app.get(JobsService);
      const added = await jobs.enqueueMany(
        Array.from({ length: 40 }, (_, n) => ({
          kind: 'maybe.poison',
          data: { poison: n % 13 === 5 },
        })),
      );
      const poisoned = added.filter((job) => (job.data as { poison: boolean }).poison);
      expect(poisoned).toHaveLength(3);
      for (const job of added) await waitForStatus(app, job.id, 'succeeded');
      for (const job of added) expect(calls.get(job.id)).toBe(1);
      for (const job of poisoned) {
        const stored = (await jobs.get(job.id))!;
        expect(stored.result).toBeNull();
        expect(stored.logs).toContain('could not be stored as it was');
        expect(stored.logs).toContain('poison refused');
      }
      const healthy = added.find((job) => !(job.data as { poison: boolean }).poison)!;
      expect((await jobs.get(healthy.id))!.result).toEqual({ poison: false });
    } finally {
      await uninstall();
    }
  });

  it('succeeded is told after the outcome is stored, with the data and the result', async () => {
    app = await startApp({
      database: await freshDatabase(backend),
      providers: [Throwers, ReadBack],
    });
    const job = await app.get(JobsService).enqueue('ok', { hello: 'world' });
    await waitFor(() => ReadBack.seen.length === 1, 'the succeeded event');
    const [{ event, stored }] = ReadBack.seen;
    expect(event).toMatchObject({
      event: 'succeeded',
      id: job.id,
      data: { hello: 'world' },
      result: { id: job.id },
    });
    expect(stored).toEqual({ status: 'succeeded', result: { id: job.id } });
  });

  it('shutdown waits for listeners still running before the database closes', async () => {
    app = await startApp({
      database: await freshDatabase(backend),
      providers: [Retrying, ReadBack],
    });
    const job = await app.get(JobsService).enqueue('delayed', null);
    await waitForStatus(app, job.id, 'succeeded');
    await app.close();
    app = undefined;
    expect(ReadBack.lateReads).toEqual(['read succeeded']);
  });

  it('a delayed job starts when due, not at the next poll (poll interval 60 s)', async () => {
    app = await startApp({
      database: await freshDatabase(backend),
      providers: [Retrying],
      jobs: { pollInterval: 60_000 },
    });
    const jobs = app.get(JobsService);
    // The first poll at startup has passed once a job due now has run.
    await waitForStatus(app, (await jobs.enqueue('delayed', null)).id, 'succeeded');
    const runAt = new Date(Date.now() + 300);
    const later = await jobs.enqueue('delayed', null, { runAt });
    const done = await waitForStatus(app, later.id, 'succeeded');
    // run_at stays the moment it was due, so lateness can be read afterwards (last_run - run_at).
    expect(done.runAt.getTime()).toBe(runAt.getTime());
    expect(done.lastRun!.getTime()).toBeGreaterThanOrEqual(runAt.getTime());
  });

  it('a retry starts when its backoff ends, not at the next poll (poll interval 60 s)', async () => {
    app = await startApp({
      database: await freshDatabase(backend),
      providers: [Retrying],
      jobs: { pollInterval: 60_000 },
    });
    const job = await app.get(JobsService).enqueue('fails.once', null);
    const done = await waitForStatus(app, job.id, 'succeeded');
    expect(done.attempts).toBe(2);
  });

  if (backend.name === 'postgres') {
    it('a delayed job enqueued by another instance starts when due (NOTIFY carries the time)', async () => {
      const database = await freshDatabase(backend);
      app = await startApp({ database, providers: [Retrying], jobs: { pollInterval: 60_000 } });
      other = await startApp({ database, jobs: { runner: false } });
      const producer = other.get(JobsService);
      await waitForStatus(app, (await producer.enqueue('delayed', null)).id, 'succeeded');
      const later = await producer.enqueue('delayed', null, { delay: 300 });
      await waitForStatus(app, later.id, 'succeeded');
    });
  }

  it('a run that never settles times out by the module default timeout', async () => {
    app = await startApp({
      database: await freshDatabase(backend),
      providers: [Never],
      jobs: { timeout: 200, maxAttempts: 1, shutdownTimeout: 100 },
    });
    const job = await app.get(JobsService).enqueue('never.settles', null);
    const failed = await waitForStatus(app, job.id, 'failed');
    expect(failed.lastError).toContain('JobTimeoutError');
  });

  it('a timeout given at enqueue overrides the kind and module defaults', async () => {
    app = await startApp({
      database: await freshDatabase(backend),
      providers: [Never],
      jobs: { maxAttempts: 1, shutdownTimeout: 100 },
    });
    const job = await app.get(JobsService).enqueue('never.settles', null, { timeout: 200 });
    const failed = await waitForStatus(app, job.id, 'failed');
    expect(failed.lastError).toContain('JobTimeoutError');
  });

  it('a backoff given at enqueue decides the retry delay', async () => {
    app = await startApp({
      database: await freshDatabase(backend),
      providers: [Retrying],
      jobs: { pollInterval: 60_000 },
    });
    const jobs = app.get(JobsService);
    const fixed = await jobs.enqueue('fails.once', null, { backoff: { type: 'fixed', delay: 70 } });
    const base = await jobs.enqueue('fails.once', null, { backoff: 30 });
    expect((await waitForStatus(app, fixed.id, 'succeeded')).logs).toContain('retry in 70 ms');
    expect((await waitForStatus(app, base.id, 'succeeded')).logs).toContain('retry in 30 ms');
  });

  it('runPending returns at its bound, counting the runs still going as unfinished', async () => {
    app = await startApp({
      database: await freshDatabase(backend),
      providers: [Never, Throwers],
      jobs: { runner: false, shutdownTimeout: 100 },
    });
    const jobs = app.get(JobsService);
    await jobs.enqueue('never.settles', null);
    await jobs.enqueue('ok', null);
    const summary = await jobs.runPending({ timeout: 300 });
    expect(summary).toEqual({ ran: 1, succeeded: 1, failed: 0, snoozed: 0, unfinished: 1 });
  });
});
