import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import {
  InvalidJobProgressError,
  JobCancelledError,
  JobEntity,
  JobKind,
  JobLeaseLostError,
  JobsService,
  JobTransactionError,
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

/** The app's own table, written by handlers inside `job.transaction()`. */
const EFFECTS = 'run_control_effects';

/** Handlers that block until a test lets them go, and record how their runs were stopped. */
@Injectable()
class Controlled {
  readonly started = new Set<number>();
  readonly aborted = new Map<number, unknown>();
  readonly returned = new Set<number>();
  readonly errors = new Map<number, unknown>();
  readonly progressEvents: JobEvent[] = [];
  private readonly releases = new Map<number, () => void>();
  /** Released before their handler reached `blocked` (a test can see a job's progress first). */
  private readonly releasedEarly = new Set<number>();

  release(id: number) {
    const resolve = this.releases.get(id);
    if (resolve) resolve();
    else this.releasedEarly.add(id);
  }

  private blocked(job: JobContext): Promise<void> {
    this.started.add(job.id);
    job.signal.addEventListener('abort', () => this.aborted.set(job.id, job.signal.reason));
    if (this.releasedEarly.delete(job.id)) return Promise.resolve();
    return new Promise((resolve) => this.releases.set(job.id, resolve));
  }

  /** Stops when its signal aborts. */
  @JobKind('obedient')
  async obedient(job: JobContext) {
    this.started.add(job.id);
    await new Promise<void>((resolve) => {
      job.signal.addEventListener('abort', () => {
        this.aborted.set(job.id, job.signal.reason);
        resolve();
      });
    });
    return 'stopped';
  }

  /** Ignores its signal, and returns only when released. */
  @JobKind('stubborn', { maxAttempts: 3 })
  async stubborn(job: JobContext) {
    await this.blocked(job);
    this.returned.add(job.id);
    return { late: true };
  }

  @JobKind('quick')
  quick() {
    return 'done';
  }

  /** Reports progress in a burst, then its last value, then returns. */
  @JobKind('report')
  async report(job: JobContext<{ steps: number; final: unknown }>) {
    for (let i = 1; i <= job.data.steps; i++) await job.progress(i);
    await job.progress(job.data.final);
    return 'built';
  }

  @JobKind('report.blocked')
  async reportBlocked(job: JobContext<{ value: unknown }>) {
    await job.progress(job.data.value);
    await this.blocked(job);
  }

  @JobKind('report.bad', { maxAttempts: 1 })
  async reportBad(job: JobContext<{ kind: string }>) {
    const values: Record<string, unknown> = {
      fn: { f: () => 1 },
      nan: Number.NaN,
      undef: undefined,
      big: 10n,
    };
    try {
      await job.progress(values[job.data.kind]);
    } catch (error) {
      this.errors.set(job.id, error);
    }
  }

  /** Pays inside its transaction; optionally blocks before (so a test can take its lease). */
  @JobKind('pay', { maxAttempts: 1 })
  async pay(job: JobContext<{ block?: boolean; throwAfter?: boolean; twice?: boolean }>) {
    if (job.data.block) await this.blocked(job);
    let value: unknown;
    try {
      value = await job.transaction(async (manager: EntityManager) => {
        await manager.query(`INSERT INTO ${EFFECTS} (job_id) VALUES (${job.id})`);
        return { paid: job.id };
      });
    } catch (error) {
      this.errors.set(job.id, error);
      throw error;
    }
    if (job.data.twice) {
      await job.transaction(async () => undefined).catch((error) => this.errors.set(job.id, error));
    }
    if (job.data.throwAfter) throw new Error('after the commit');
    return value;
  }

  /** Calls job.transaction after returning. */
  late: Array<() => Promise<unknown>> = [];
  @JobKind('pay.late')
  payLate(job: JobContext) {
    this.late.push(() => job.transaction(async () => 1));
    return 'returned';
  }

  @OnJobEvent('progress')
  onProgress(event: JobEvent) {
    this.progressEvents.push(event);
  }
}

afterAll(closeCleaners);

async function effectsOf(app: TestingModule): Promise<number[]> {
  const source = app.get<DataSource>(getDataSourceToken());
  const rows: Array<{ job_id: number | string }> = await source.query(
    `SELECT job_id FROM ${EFFECTS} ORDER BY job_id`,
  );
  return rows.map((row) => Number(row.job_id));
}

async function createEffects(app: TestingModule): Promise<void> {
  const source = app.get<DataSource>(getDataSourceToken());
  await source.query(`DROP TABLE IF EXISTS ${EFFECTS}`);
  await source.query(`CREATE TABLE ${EFFECTS} (job_id integer NOT NULL)`);
}

describeBackends('control of running jobs', (backend) => {
  describe('cancel', () => {
    it('aborts a running handler with JobCancelledError; the job ends cancelled, not retried', async () => {
      const database = await freshDatabase(backend);
      await withApp({ database, providers: [Controlled] }, async (app) => {
        const handlers = app.get(Controlled);
        const jobs = app.get(JobsService);
        const job = await jobs.enqueue('obedient', {});
        await waitFor(() => handlers.started.has(job.id), 'the handler to start');
        expect(await jobs.cancel(job.id)).toBe(true);
        const reason = await waitFor(() => handlers.aborted.get(job.id), 'the abort');
        expect(reason).toBeInstanceOf(JobCancelledError);
        expect((reason as JobCancelledError).id).toBe(job.id);
        // Its outcome ('stopped') is dropped: the job stays cancelled, with no result and one attempt.
        const quick = await jobs.enqueue('quick', {});
        await waitForStatus(app, quick.id, 'succeeded');
        const after = (await jobs.get(job.id))!;
        expect(after.status).toBe('cancelled');
        expect(after.result).toBeNull();
        expect(after.attempts).toBe(1);
        expect(after.active).toBe(false);
      });
    });

    it('frees the slot of a handler that ignores its signal, and refuses its late outcome', async () => {
      const database = await freshDatabase(backend);
      await withApp(
        { database, providers: [Controlled], jobs: { concurrency: 1 } },
        async (app) => {
          const handlers = app.get(Controlled);
          const jobs = app.get(JobsService);
          const stubborn = await jobs.enqueue('stubborn', {});
          await waitFor(() => handlers.started.has(stubborn.id), 'the handler to start');
          const next = await jobs.enqueue('quick', {});
          await jobs.cancel(stubborn.id);
          // One slot: the next job can only run if the cancelled run gave its slot back.
          await waitForStatus(app, next.id, 'succeeded');
          expect(handlers.returned.has(stubborn.id)).toBe(false);
          handlers.release(stubborn.id);
          await waitFor(() => handlers.returned.has(stubborn.id), 'the late return');
          const another = await jobs.enqueue('quick', {});
          await waitForStatus(app, another.id, 'succeeded');
          const after = (await jobs.get(stubborn.id))!;
          expect(after.status).toBe('cancelled');
          expect(after.result).toBeNull();
          expect(after.attempts).toBe(1);
        },
      );
    });

    it('reaches a handler running in another instance', async () => {
      const database = await freshDatabase(backend);
      // The runner's own poll is slow: on PostgreSQL the cancel travels by NOTIFY; elsewhere the
      // running instance checks its runs each poll interval.
      const pollInterval = backend.name === 'postgres' ? 60_000 : 200;
      const runner = await startApp({ database, providers: [Controlled], jobs: { pollInterval } });
      const other = await startApp({ database, jobs: { runner: false, kinds: ['obedient'] } });
      try {
        const handlers = runner.get(Controlled);
        const job = await runner.get(JobsService).enqueue('obedient', {});
        await waitFor(() => handlers.started.has(job.id), 'the handler to start');
        expect(await other.get(JobsService).cancel(job.id)).toBe(true);
        const reason = await waitFor(() => handlers.aborted.get(job.id), 'the abort');
        expect(reason).toBeInstanceOf(JobCancelledError);
        expect((await other.get(JobsService).get(job.id))!.status).toBe('cancelled');
      } finally {
        await other.close();
        await runner.close();
      }
    });
  });

  describe('lost lease', () => {
    it('aborts with JobLeaseLostError when another instance has taken the job, and drops the outcome', async () => {
      const database = await freshDatabase(backend);
      await withApp({ database, providers: [Controlled], jobs: { lease: 1_000 } }, async (app) => {
        const handlers = app.get(Controlled);
        const jobs = app.get(JobsService);
        const job = await jobs.enqueue('stubborn', {});
        await waitFor(() => handlers.started.has(job.id), 'the handler to start');
        // As if our lease had run out and another instance had claimed the job.
        const source = app.get<DataSource>(getDataSourceToken());
        await source.getRepository(JobEntity).update(job.id, {
          lockedBy: 'other-host:1:x',
          lockedUntil: new Date(Date.now() + 60_000),
        });
        const reason = await waitFor(() => handlers.aborted.get(job.id), 'the abort');
        expect(reason).toBeInstanceOf(JobLeaseLostError);
        handlers.release(job.id);
        await waitFor(() => handlers.returned.has(job.id), 'the late return');
        const next = await jobs.enqueue('quick', {});
        await waitForStatus(app, next.id, 'succeeded');
        const after = (await jobs.get(job.id))!;
        expect(after.status).toBe('running');
        expect(after.lockedBy).toBe('other-host:1:x');
        expect(after.result).toBeNull();
      });
    });

    it('aborts when the running job is deleted', async () => {
      const database = await freshDatabase(backend);
      await withApp({ database, providers: [Controlled], jobs: { lease: 1_000 } }, async (app) => {
        const handlers = app.get(Controlled);
        const job = await app.get(JobsService).enqueue('obedient', {});
        await waitFor(() => handlers.started.has(job.id), 'the handler to start');
        await app.get<DataSource>(getDataSourceToken()).getRepository(JobEntity).delete(job.id);
        const reason = await waitFor(() => handlers.aborted.get(job.id), 'the abort');
        expect(reason).toBeInstanceOf(JobLeaseLostError);
        expect((reason as Error).message).toContain('deleted');
      });
    });
  });

  describe('progress', () => {
    it('stores the last value reported before the outcome, throttling the writes between', async () => {
      const database = await freshDatabase(backend);
      await withApp({ database, providers: [Controlled] }, async (app) => {
        const handlers = app.get(Controlled);
        const jobs = app.get(JobsService);
        const final = { stage: 'done', parts: [1, 2, 3], note: 'quotes " and \\ backslash' };
        const job = await jobs.enqueue('report', { steps: 200, final });
        const done = await waitForStatus(app, job.id, 'succeeded');
        expect(done.progress).toEqual(final);
        expect(done.result).toBe('built');
        const events = handlers.progressEvents.filter((event) => event.id === job.id);
        // 201 values reported in a burst: the first written at once, the last before the outcome,
        // a few at most between (one a second).
        expect(events.length).toBeGreaterThanOrEqual(2);
        expect(events.length).toBeLessThan(20);
        expect(events[0].progress).toBe(1);
        expect(events.at(-1)!.progress).toEqual(final);
      });
    });

    it('is readable while the job runs', async () => {
      const database = await freshDatabase(backend);
      await withApp({ database, providers: [Controlled] }, async (app) => {
        const handlers = app.get(Controlled);
        const jobs = app.get(JobsService);
        const job = await jobs.enqueue('report.blocked', { value: 42 });
        await waitFor(async () => (await jobs.get(job.id))?.progress === 42, 'the progress');
        expect((await jobs.get(job.id))!.status).toBe('running');
        handlers.release(job.id);
        const done = await waitForStatus(app, job.id, 'succeeded');
        expect(done.progress).toBe(42);
      });
    });

    it.each(['fn', 'nan', 'undef', 'big'])(
      'refuses a value JSON cannot hold (%s) with InvalidJobProgressError, storing nothing',
      async (kind) => {
        const database = await freshDatabase(backend);
        await withApp({ database, providers: [Controlled] }, async (app) => {
          const handlers = app.get(Controlled);
          const job = await app.get(JobsService).enqueue('report.bad', { kind });
          const done = await waitForStatus(app, job.id, 'succeeded');
          const error = handlers.errors.get(job.id);
          expect(error).toBeInstanceOf(InvalidJobProgressError);
          expect((error as Error).message).toContain(`job ${job.id}`);
          expect(done.progress).toBeNull();
        });
      },
    );
  });

  describe('job.transaction', () => {
    it("commits the app's writes and the job's success together; the result is what it returns", async () => {
      const database = await freshDatabase(backend);
      await withApp({ database, providers: [Controlled] }, async (app) => {
        await createEffects(app);
        const jobs = app.get(JobsService);
        const job = await jobs.enqueue('pay', {});
        const done = await waitForStatus(app, job.id, 'succeeded', 'failed');
        expect(done.status).toBe('succeeded');
        expect(done.result).toEqual({ paid: job.id });
        expect(done.lockedBy).toBeNull();
        expect(await effectsOf(app)).toEqual([job.id]);
      });
    });

    it("rolls back the app's writes when the lease is gone at commit (JobLeaseLostError)", async () => {
      const database = await freshDatabase(backend);
      // A long lease: the test takes the job over by hand, before any renewal would notice.
      await withApp(
        { database, providers: [Controlled], jobs: { lease: 600_000 } },
        async (app) => {
          await createEffects(app);
          const handlers = app.get(Controlled);
          const jobs = app.get(JobsService);
          const job = await jobs.enqueue('pay', { block: true });
          await waitFor(() => handlers.started.has(job.id), 'the handler to start');
          const source = app.get<DataSource>(getDataSourceToken());
          await source.getRepository(JobEntity).update(job.id, { lockedBy: 'other-host:1:x' });
          handlers.release(job.id);
          const error = await waitFor(() => handlers.errors.get(job.id), 'the refusal');
          expect(error).toBeInstanceOf(JobLeaseLostError);
          expect(await effectsOf(app)).toEqual([]);
          const after = (await jobs.get(job.id))!;
          expect(after.status).toBe('running');
          expect(after.lockedBy).toBe('other-host:1:x');
        },
      );
    });

    it('rolls back when the job was cancelled meanwhile', async () => {
      const database = await freshDatabase(backend);
      await withApp(
        { database, providers: [Controlled], jobs: { lease: 600_000 } },
        async (app) => {
          await createEffects(app);
          const handlers = app.get(Controlled);
          const jobs = app.get(JobsService);
          const job = await jobs.enqueue('pay', { block: true });
          await waitFor(() => handlers.started.has(job.id), 'the handler to start');
          await jobs.cancel(job.id);
          await waitFor(() => handlers.aborted.has(job.id), 'the abort');
          handlers.release(job.id);
          await waitFor(() => handlers.errors.get(job.id), 'the refusal');
          expect(await effectsOf(app)).toEqual([]);
          expect((await jobs.get(job.id))!.status).toBe('cancelled');
        },
      );
    });

    it('keeps the committed end when the handler throws afterwards', async () => {
      const database = await freshDatabase(backend);
      await withApp({ database, providers: [Controlled] }, async (app) => {
        await createEffects(app);
        const jobs = app.get(JobsService);
        const job = await jobs.enqueue('pay', { throwAfter: true });
        await waitForStatus(app, job.id, 'succeeded', 'failed');
        const quick = await jobs.enqueue('quick', {});
        await waitForStatus(app, quick.id, 'succeeded');
        const after = (await jobs.get(job.id))!;
        expect(after.status).toBe('succeeded');
        expect(after.attempts).toBe(1);
        expect(await effectsOf(app)).toEqual([job.id]);
      });
    });

    it('refuses a second call, and a call after the handler returned, with JobTransactionError', async () => {
      const database = await freshDatabase(backend);
      await withApp({ database, providers: [Controlled] }, async (app) => {
        await createEffects(app);
        const handlers = app.get(Controlled);
        const jobs = app.get(JobsService);
        const twice = await jobs.enqueue('pay', { twice: true });
        await waitForStatus(app, twice.id, 'succeeded');
        // The job is succeeded at the first commit; the second call comes after it.
        await waitFor(() => handlers.errors.get(twice.id), 'the second call refused');
        expect(handlers.errors.get(twice.id)).toBeInstanceOf(JobTransactionError);
        expect((handlers.errors.get(twice.id) as Error).message).toContain('twice');
        expect(await effectsOf(app)).toEqual([twice.id]);

        const late = await jobs.enqueue('pay.late', {});
        await waitForStatus(app, late.id, 'succeeded');
        await expect(handlers.late[0]()).rejects.toBeInstanceOf(JobTransactionError);
        await expect(handlers.late[0]()).rejects.toThrow('after the handler returned');
      });
    });
  });
});
