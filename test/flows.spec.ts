/**
 * Dependencies, flows and batches (lib/flows/), on every backend, in one process: what a dependent
 * waits for, what a failed dependency does to it, trees created at once (and not at all when one
 * spec is bad), batches whose callback runs once with the counts, cancel with children, retention,
 * and that a job without dependencies costs no statement more when it ends.
 */
import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { TestingModule } from '@nestjs/testing';
import type { DataSource } from 'typeorm';
import {
  InvalidJobsOptionError,
  JobDependencyNotFoundError,
  JobKind,
  JobsService,
  type JobContext,
  type JobDependency,
} from 'nestjs-typeorm-jobs';
import { JobStore } from '../lib/storage/job.store.js';
import { describeBackends, type Backend } from './support/backends.js';
import { closeCleaners, freshDatabase, waitFor, withApp } from './support/fixtures.js';

/** Handlers that record their starts, and what each saw of its dependencies. */
@Injectable()
class FlowWork {
  readonly starts: number[] = [];
  readonly saw = new Map<number, JobDependency[]>();
  readonly callbacks: Array<{ id: number; data: unknown }> = [];
  /** Runs of 'held' wait until released (by id). */
  private readonly gates = new Map<number, () => void>();

  @JobKind('step', { maxAttempts: 1 })
  async step(job: JobContext<{ name: string; fail?: boolean }>) {
    this.starts.push(job.id);
    this.saw.set(job.id, await job.dependencies());
    if (job.data.fail) throw new Error(`${job.data.name} failed`);
    return { name: job.data.name };
  }

  @JobKind('held', { maxAttempts: 1 })
  async held(job: JobContext) {
    this.starts.push(job.id);
    await new Promise<void>((resolve) => this.gates.set(job.id, resolve));
    return 'released';
  }

  @JobKind('batch.done', { maxAttempts: 1 })
  done(job: JobContext) {
    this.callbacks.push({ id: job.id, data: job.data });
  }

  release(id: number) {
    this.gates.get(id)?.();
  }

  releaseAll() {
    for (const open of this.gates.values()) open();
  }
}

afterAll(closeCleaners);

describeBackends('dependencies, flows and batches', (backend: Backend) => {
  async function withWorker(
    use: (jobs: JobsService, work: FlowWork, app: TestingModule) => Promise<void>,
    jobsOptions: Record<string, unknown> = {},
  ) {
    await withApp(
      { database: await freshDatabase(backend), providers: [FlowWork], jobs: jobsOptions },
      async (app) => {
        const work = app.get(FlowWork);
        try {
          await use(app.get(JobsService), work, app);
        } finally {
          work.releaseAll();
        }
      },
    );
  }

  it('runs a dependent only after each dependency succeeded, and shows it what they returned', async () => {
    await withWorker(async (jobs, work) => {
      // Both dependencies are held until released, so neither can end before the dependent is
      // stored (a fast 'step' could, and then it would count one dependency, rightly).
      const pick = await jobs.enqueue('held', {});
      const pack = await jobs.enqueue('held', {});
      const ship = await jobs.enqueue('step', { name: 'ship' }, { dependsOn: [pick.id, pack.id] });
      expect(ship).toMatchObject({ status: 'pending', dependenciesLeft: 2 });
      expect((await jobs.get(ship.id))?.waiting).toEqual({
        reason: 'dependencies',
        message: 'it waits on 2 dependencies not yet ended',
      });
      // One of two ended (its end settled just after it is stored): still waiting, never claimed.
      await waitFor(() => work.starts.includes(pack.id), 'pack to start');
      work.release(pack.id);
      await waitFor(
        async () => (await jobs.get(ship.id))?.dependenciesLeft === 1,
        'pack to settle',
      );
      await waitFor(() => work.starts.includes(pick.id), 'pick to start');
      expect(await jobs.get(ship.id)).toMatchObject({ status: 'pending', dependenciesLeft: 1 });
      expect(work.starts).not.toContain(ship.id);

      work.release(pick.id);
      const done = await jobs.waitFor(ship.id, { timeout: 15_000 });
      expect(done).toMatchObject({ status: 'succeeded', dependenciesLeft: 0 });
      expect(work.starts.indexOf(ship.id)).toBeGreaterThan(work.starts.indexOf(pick.id));
      expect(work.saw.get(ship.id)).toEqual([
        { id: pick.id, kind: 'held', status: 'succeeded', result: 'released' },
        { id: pack.id, kind: 'held', status: 'succeeded', result: 'released' },
      ]);
      expect((await jobs.get(pick.id))?.hasDependents).toBe(true);
    });
  });

  it('cancels a dependent whose dependency failed, naming it, or runs it anyway with onDependencyFailure: run', async () => {
    await withWorker(async (jobs, work) => {
      const bad = await jobs.enqueue('held', {});
      const strict = await jobs.enqueue('step', { name: 'strict' }, { dependsOn: [bad.id] });
      const lenient = await jobs.enqueue(
        'step',
        { name: 'lenient' },
        { dependsOn: [bad.id], onDependencyFailure: 'run' },
      );
      // A dependent of the cancelled one is cancelled in turn.
      const after = await jobs.enqueue('step', { name: 'after' }, { dependsOn: [strict.id] });
      await waitFor(() => work.starts.includes(bad.id), 'the dependency to start');
      expect(await jobs.cancel(bad.id)).toBe(true);

      const cancelled = await jobs.get(strict.id);
      expect(cancelled).toMatchObject({ status: 'cancelled' });
      expect(cancelled?.lastError).toContain(`job ${bad.id}`);
      expect(await jobs.get(after.id)).toMatchObject({ status: 'cancelled' });
      expect((await jobs.get(after.id))?.lastError).toContain(`job ${strict.id}`);
      await jobs.waitFor(lenient.id, { timeout: 15_000 });
      expect(work.saw.get(lenient.id)).toEqual([
        { id: bad.id, kind: 'held', status: 'cancelled', result: null },
      ]);
      expect(work.starts).not.toContain(strict.id);
      expect(work.starts).not.toContain(after.id);

      // A dependency that failed before the dependent was enqueued: cancelled at once.
      const failed = await jobs.enqueue('step', { name: 'f', fail: true });
      await waitFor(async () => (await jobs.get(failed.id))?.status === 'failed', 'failure');
      const late = await jobs.enqueue('step', { name: 'late' }, { dependsOn: [failed.id] });
      expect(await jobs.get(late.id)).toMatchObject({ status: 'cancelled' });
      expect((await jobs.get(late.id))?.lastError).toContain(`job ${failed.id}, failed`);
    });
  });

  it('refuses an unknown dependency, bad ids and options that cannot go with it, having written nothing', async () => {
    await withWorker(
      async (jobs) => {
        const real = await jobs.enqueue('step', { name: 'real' });
        const count = async () => (await jobs.list({ limit: 100 })).length;
        const before = await count();
        const unknown = await jobs
          .enqueue('step', { name: 'x' }, { dependsOn: [real.id, 99_999_999] })
          .catch((error: Error) => error);
        expect(unknown).toBeInstanceOf(JobDependencyNotFoundError);
        expect((unknown as JobDependencyNotFoundError).ids).toEqual([99_999_999]);
        for (const options of [
          { dependsOn: ['1'] },
          { dependsOn: 5 },
          { dependsOn: [0] },
          { dependsOn: [real.id], delay: 1000 },
          { dependsOn: [real.id], unique: true },
          { dependsOn: [real.id], onDependencyFailure: 'ignore' },
        ]) {
          const refused = await jobs
            .enqueue('step', { name: 'x' }, options as never)
            .catch((error: Error) => error);
          expect([options, refused]).toEqual([options, expect.any(InvalidJobsOptionError)]);
        }
        const many = await jobs
          .enqueueMany([
            { kind: 'step', data: { name: 'a' } },
            { kind: 'step', data: { name: 'b' }, dependsOn: [88_888_888] },
          ])
          .catch((error: Error) => error);
        expect(many).toBeInstanceOf(JobDependencyNotFoundError);
        expect(await count()).toBe(before);
      },
      { runner: false },
    );
  });

  it('creates a nested flow at once, runs parents after their children, and nothing of a flow with a bad spec', async () => {
    await withWorker(async (jobs, work) => {
      const flow = await jobs.enqueueFlow({
        kind: 'step',
        data: { name: 'publish' },
        children: [
          { kind: 'step', data: { name: 'transcode-1080' } },
          {
            kind: 'step',
            data: { name: 'package' },
            children: [
              { kind: 'step', data: { name: 'thumbnail' } },
              { kind: 'step', data: { name: 'captions' } },
            ],
          },
        ],
      });
      expect(flow.job).toMatchObject({ status: 'pending', dependenciesLeft: 2 });
      expect(flow.children.map((child) => child.job.data)).toEqual([
        { name: 'transcode-1080' },
        { name: 'package' },
      ]);
      const pkg = flow.children[1];
      expect(pkg.children).toHaveLength(2);
      await jobs.waitFor(flow.job.id, { timeout: 15_000 });
      const order = (id: number) => work.starts.indexOf(id);
      for (const child of pkg.children) expect(order(child.job.id)).toBeLessThan(order(pkg.job.id));
      for (const child of flow.children) {
        expect(order(child.job.id)).toBeLessThan(order(flow.job.id));
      }
      expect(work.saw.get(flow.job.id)?.map((dependency) => dependency.result)).toEqual([
        { name: 'transcode-1080' },
        { name: 'package' },
      ]);

      const total = (await jobs.list({ limit: 100 })).length;
      const bad = await jobs
        .enqueueFlow({
          kind: 'step',
          data: { name: 'root' },
          children: [
            { kind: 'step', data: { name: 'ok' } },
            { kind: 'no.such.kind', data: {} },
          ],
        })
        .catch((error: Error) => error);
      expect(bad).toBeInstanceOf(Error);
      const delayedParent = await jobs
        .enqueueFlow({
          kind: 'step',
          data: { name: 'root' },
          delay: 1000,
          children: [{ kind: 'step', data: { name: 'ok' } }],
        })
        .catch((error: Error) => error);
      expect(delayedParent).toBeInstanceOf(InvalidJobsOptionError);
      expect(String(delayedParent)).toContain('delay');
      expect((await jobs.list({ limit: 100 })).length).toBe(total);
    });
  });

  it("creates a flow in the caller's transaction: nothing of it exists if that rolls back", async () => {
    await withWorker(
      async (jobs, _work, app) => {
        const source = app.get<DataSource>(getDataSourceToken());
        const rolledBack = await source
          .transaction(async (manager) => {
            await jobs.enqueueFlow(
              {
                kind: 'step',
                data: { name: 'root' },
                children: [{ kind: 'step', data: { name: 'child' } }],
              },
              { manager },
            );
            throw new Error('roll back');
          })
          .catch((error: Error) => error.message);
        expect(rolledBack).toBe('roll back');
        expect(await jobs.list({ limit: 10 })).toEqual([]);
        const [{ n }] = await source.query('SELECT COUNT(*) AS n FROM nest_job_deps');
        expect(Number(n)).toBe(0);
      },
      { runner: false },
    );
  });

  it('cancels a parent with its pending children, all the way down', async () => {
    await withWorker(
      async (jobs) => {
        const flow = await jobs.enqueueFlow({
          kind: 'step',
          data: { name: 'root' },
          children: [
            {
              kind: 'step',
              data: { name: 'a' },
              children: [{ kind: 'step', data: { name: 'a1' } }],
            },
            { kind: 'step', data: { name: 'b' } },
          ],
        });
        // A job waiting on its children is not made due by runNow.
        expect(await jobs.runNow([flow.job.id])).toBe(0);
        expect(await jobs.cancel(flow.job.id, { children: true })).toBe(true);
        const ids = [
          flow.job.id,
          ...flow.children.map((c) => c.job.id),
          flow.children[0].children[0].job.id,
        ];
        for (const id of ids) expect((await jobs.get(id))?.status).toBe('cancelled');
      },
      { runner: false },
    );
  });

  it('runs a batch callback once, after the last job ended, with the counts; batch() reads them', async () => {
    await withWorker(async (jobs, work, app) => {
      const specs = Array.from({ length: 30 }, (_, i) => ({
        kind: 'step',
        data: { name: `item-${i}`, fail: i % 10 === 0 },
      }));
      const batch = await jobs.enqueueBatch(specs, {
        onComplete: { kind: 'batch.done', data: { importId: 7 } },
      });
      expect(batch.jobs).toHaveLength(30);
      expect(batch.jobs[0].batchId).toBe(batch.id);
      await waitFor(async () => (await jobs.batch(batch.id))?.finishedAt, 'the batch to finish');
      await waitFor(() => work.callbacks.length > 0, 'the callback to run');
      const read = await jobs.batch(batch.id);
      expect(read).toMatchObject({
        id: batch.id,
        total: 30,
        pending: 0,
        running: 0,
        succeeded: 27,
        failed: 3,
        cancelled: 0,
      });
      expect(work.callbacks).toEqual([
        {
          id: read!.callbackJobId,
          data: {
            importId: 7,
            batch: { id: batch.id, total: 30, succeeded: 27, failed: 3, cancelled: 0 },
          },
        },
      ]);
      // The sweep finds nothing more to do: still one callback.
      await app.get(JobStore).sweepFlows();
      expect((await jobs.list({ kind: 'batch.done' })).length).toBe(1);
      expect(await jobs.batch(99_999)).toBeNull();
      const empty = await jobs.enqueueBatch([]).catch((error: Error) => error);
      expect(empty).toBeInstanceOf(InvalidJobsOptionError);
    });
  });

  it('keeps a finished dependency from retention while its dependent waits, then prunes both', async () => {
    await withWorker(
      async (jobs, work, app) => {
        const dependency = await jobs.enqueue('step', { name: 'dep' });
        const blocker = await jobs.enqueue('held', {});
        const dependent = await jobs.enqueue(
          'step',
          { name: 'dependent' },
          { dependsOn: [dependency.id, blocker.id] },
        );
        await waitFor(async () => (await jobs.get(dependency.id))?.status === 'succeeded', 'dep');
        await waitFor(() => work.starts.includes(blocker.id), 'the blocker to start');
        const store = app.get(JobStore);
        await store.pruneFinished([{ status: 'succeeded', before: Date.now() + 1 }]);
        expect(await jobs.get(dependency.id)).not.toBeNull();
        work.release(blocker.id);
        await jobs.waitFor(dependent.id, { timeout: 15_000 });
        expect(work.saw.get(dependent.id)?.[0]).toMatchObject({
          id: dependency.id,
          status: 'succeeded',
        });
        await waitFor(async () => {
          await store.pruneFinished([{ status: 'succeeded', before: Date.now() + 1 }]);
          return (await jobs.list({ limit: 10 })).length === 0;
        }, 'every job to be pruned');
      },
      { retention: { succeeded: '100d' } },
    );
  });

  it('settles by the sweep what no one settled (an end written by a process that died before settling it)', async () => {
    await withWorker(
      async (jobs, _work, app) => {
        const source = app.get<DataSource>(getDataSourceToken());
        const store = app.get(JobStore);
        const dependency = await jobs.enqueue('step', { name: 'd' });
        const dependent = await jobs.enqueue('step', { name: 'e' }, { dependsOn: [dependency.id] });
        const batch = await jobs.enqueueBatch([{ kind: 'step', data: { name: 'b' } }], {
          onComplete: { kind: 'batch.done', data: {} },
        });
        // Their ends, written as a runner writes them, but never settled.
        await source.query(
          `UPDATE nest_jobs SET status = 'succeeded', active = FALSE, finished_at = ${Date.now()}
           WHERE id IN (${dependency.id}, ${batch.jobs[0].id})`,
        );
        expect(await jobs.get(dependent.id)).toMatchObject({ dependenciesLeft: 1 });
        const settled = await store.sweepFlows();
        expect(settled.released.map((job) => job.id)).toContain(dependent.id);
        expect(await jobs.get(dependent.id)).toMatchObject({
          status: 'pending',
          dependenciesLeft: 0,
        });
        expect((await jobs.get(dependent.id))!.runAt.getTime()).toBeLessThanOrEqual(Date.now());
        expect(await jobs.batch(batch.id)).toMatchObject({
          succeeded: 1,
          finishedAt: expect.any(Date),
        });
        expect((await jobs.list({ kind: 'batch.done' })).length).toBe(1);
        // Nothing open any more: one read, nothing settled.
        expect(await store.sweepFlows()).toEqual({ released: [], cancelled: [], batches: [] });
      },
      { runner: false },
    );
  });

  it('writes the end of a job with no dependency, no dependent and no batch in one statement, as before', async () => {
    await withWorker(async (jobs, work, app) => {
      const store = app.get(JobStore);
      // Every settle this instance makes, counted.
      const settled: number[][] = [];
      const settle = store.settle.bind(store);
      store.settle = (ids) => {
        settled.push(ids);
        return settle(ids);
      };
      const plain = await jobs.enqueue('step', { name: 'plain' });
      await jobs.waitFor(plain.id, { timeout: 15_000 });
      expect(settled).toEqual([]);
      const dependency = await jobs.enqueue('step', { name: 'd' });
      await jobs.waitFor(dependency.id, { timeout: 15_000 });
      // Ended before it had a dependent: nothing to settle. The dependent's own end is (it waited).
      expect(settled).toEqual([]);
      const after = await jobs.enqueue('step', { name: 'after' }, { dependsOn: [dependency.id] });
      await waitFor(() => work.starts.length === 3, 'the dependent to run');
      await waitFor(() => settled.length > 0, 'its end to be settled');
      expect(settled).toEqual([[after.id]]);
    });
  });
});
