/**
 * Cancels and lost leases across OS processes. Two worker processes
 * (test/support/run-control-worker.mjs, each a Nest app on the built package, as a user's) run
 * jobs whose handlers block until their signal aborts; this process, whose own JobsModule has
 * `runner: false`, cancels them. PostgreSQL tells the workers by NOTIFY; MariaDB and SQLite
 * workers find out by a check each poll interval. How long that takes is measured by
 * bench/cancel-latency.mjs, never asserted here.
 *
 *   w0  queues 'shared' and 'w0', concurrency 1
 *   w1  queues 'shared' and 'w1', concurrency 2
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestingModule } from '@nestjs/testing';
import type { DataSourceOptions } from 'typeorm';
import { JobsService, type JobsModuleOptions } from 'nestjs-typeorm-jobs';
import { Worker } from './fault/harness.js';
import { describeBackends, type Backend } from './support/backends.js';
import {
  closeCleaners,
  freshDatabase,
  startApp,
  waitFor,
  waitForStatus,
} from './support/fixtures.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./support/run-control-worker.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Short, so a stopped worker loses its job quickly; renewals (every lease / 3) keep the others'. */
const LEASE = 3_000;
const WORKER_JOBS: JobsModuleOptions = {
  pollInterval: 200,
  lease: LEASE,
  prefetch: 0, // claims only for free slots, so jobs spread over the workers
  shutdownTimeout: 500,
};

/** One line `RC <json>` of a worker's output (see run-control-worker.mjs). */
interface ControlRecord {
  e: 'ready' | 'start' | 'aborted' | 'returned' | 'end';
  worker: string;
  pid: number;
  t: number;
  job?: number;
  attempt?: number;
  reason?: string;
  cancelled?: boolean;
  leaseLost?: boolean;
  aborted?: boolean;
}

/** What a record must match; omitted fields match anything. */
type Wanted = Partial<Pick<ControlRecord, 'e' | 'worker' | 'job' | 'attempt'>>;

/** The enqueuing app (runner: false) and the worker processes, on one database. */
class ControlCluster {
  readonly workers = new Map<string, Worker>();

  private constructor(
    readonly app: TestingModule,
    readonly database: DataSourceOptions,
    readonly dir: string,
  ) {}

  /** A fresh database, its tables made by the enqueuing app (as a migration would). */
  static async open(backend: Backend): Promise<ControlCluster> {
    const database = await freshDatabase(backend);
    const app = await startApp({
      database,
      jobs: { runner: false, kinds: ['control.hold', 'control.quick'] },
    });
    return new ControlCluster(app, database, mkdtempSync(join(tmpdir(), 'jobs-cancel-')));
  }

  get jobs(): JobsService {
    return this.app.get(JobsService);
  }

  /** Starts a worker process and waits for its app to bootstrap. */
  async start(name: string, jobs: JobsModuleOptions): Promise<Worker> {
    const config = { name, database: this.database, jobs: { ...WORKER_JOBS, ...jobs } };
    const child = spawn(process.execPath, [WORKER_SCRIPT, JSON.stringify(config)], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const worker = new Worker(name, child, join(this.dir, `${name}.log`));
    this.workers.set(name, worker);
    await Promise.race([
      waitFor(() => this.find({ e: 'ready', worker: name }), `worker ${name} to start`, 60_000),
      worker.exited.then(() => {
        throw new Error(`worker ${name} exited while starting:\n${worker.output}`);
      }),
    ]);
    return worker;
  }

  worker(name: string): Worker {
    return this.workers.get(name)!;
  }

  /** Every record written so far, in the order each worker wrote them. */
  records(wanted: Wanted = {}): ControlRecord[] {
    const names = wanted.worker ? [wanted.worker] : [...this.workers.keys()];
    return names
      .flatMap((name) => this.worker(name).lines(/^RC /))
      .map((line) => JSON.parse(line.slice(3)) as ControlRecord)
      .filter((record) =>
        Object.entries(wanted).every(
          ([key, value]) => record[key as keyof ControlRecord] === value,
        ),
      );
  }

  find(wanted: Wanted): ControlRecord | undefined {
    return this.records(wanted)[0];
  }

  /** Waits for a record, failing at once if a worker died meanwhile. */
  waitRecord(wanted: Wanted, timeout = 20_000): Promise<ControlRecord> {
    return waitFor(
      () => {
        this.assertAlive();
        return this.find(wanted);
      },
      `record ${JSON.stringify(wanted)}`,
      timeout,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${this.tails()}`);
    });
  }

  async hold(queue: string, data: Record<string, unknown> = {}): Promise<number> {
    return (await this.jobs.enqueue('control.hold', data, { queue })).id;
  }

  /** Lets the ignoring handler of `job` in `worker` return. */
  release(worker: string, job: number): void {
    this.worker(worker).child.stdin!.write(`release ${job}\n`);
  }

  /**
   * Runs a quick job on one worker (its own queue) and waits for it to succeed: everything that
   * worker did before claiming it (a late outcome of an abandoned run included) is behind us.
   */
  async probe(worker: string): Promise<number> {
    const { id } = await this.jobs.enqueue('control.quick', {}, { queue: worker });
    await waitForStatus(this.app, id, 'succeeded');
    // Its records may reach this process after the row says it succeeded.
    expect((await this.waitRecord({ e: 'end', job: id })).worker).toBe(worker);
    return id;
  }

  /** Lines in which a worker's runner says it wrote, or tried to write, the outcome of `job`. */
  outcomeLines(worker: string, job: number): string[] {
    return this.worker(worker).lines(new RegExp(`Job ${job} finished here|#${job} \\(attempt`));
  }

  private assertAlive(): void {
    for (const worker of this.workers.values()) {
      if (!worker.running) {
        throw new Error(
          `worker ${worker.name} died (code ${worker.exitCode}, signal ${worker.exitSignal}):\n${worker.output.slice(-3_000)}`,
        );
      }
    }
  }

  tails(): string {
    return [...this.workers.values()]
      .map((w) => `--- ${w.name}\n${w.output.split('\n').slice(-15).join('\n')}`)
      .join('\n');
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.workers.values()].map(async (worker) => {
        if (!worker.running) return;
        worker.child.kill('SIGCONT'); // in case a test stopped it and failed before resuming it
        worker.kill('SIGTERM');
        const timer = setTimeout(() => worker.running && worker.child.kill('SIGKILL'), 10_000);
        await worker.exited;
        clearTimeout(timer);
      }),
    );
    await this.app.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

afterAll(closeCleaners);

describeBackends('cancel and lost leases across processes', (backend) => {
  let cluster: ControlCluster | undefined;

  beforeAll(async () => {
    cluster = await ControlCluster.open(backend);
    await Promise.all([
      cluster.start('w0', { queues: ['shared', 'w0'], concurrency: 1 }),
      cluster.start('w1', { queues: ['shared', 'w1'], concurrency: 2 }),
    ]);
  }, 90_000);

  afterAll(async () => {
    await cluster?.close();
  }, 30_000);

  it('cancel() in another process aborts each running handler with JobCancelledError; the jobs end cancelled and are not retried', async () => {
    const c = cluster!;
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push(await c.hold('shared'));
    const starts = await Promise.all(ids.map((job) => c.waitRecord({ e: 'start', job })));
    // One slot in w0, two in w1: the three runs are spread over both processes.
    expect(starts.map((start) => start.worker).sort()).toEqual(['w0', 'w1', 'w1']);

    for (const id of ids) expect(await c.jobs.cancel(id)).toBe(true);

    const aborts = await Promise.all(ids.map((job) => c.waitRecord({ e: 'aborted', job })));
    for (const [n, abort] of aborts.entries()) {
      expect(abort).toMatchObject({
        worker: starts[n].worker,
        attempt: 1,
        reason: 'JobCancelledError',
        cancelled: true,
        leaseLost: false,
      });
    }
    // Each worker has claimed again since: a cancelled job is not claimable, its handler's
    // rethrown abort (a failure with attempts left) was not written as a retry.
    await Promise.all([c.probe('w0'), c.probe('w1')]);
    for (const id of ids) {
      const job = await c.jobs.get(id);
      expect(job).toMatchObject({ status: 'cancelled', attempts: 1, result: null });
      expect(job!.lastError ?? '').not.toMatch(/JobCancelledError|cancelled/);
      expect(c.records({ e: 'start', job: id })).toHaveLength(1);
    }
  });

  it('a handler that ignores its signal: its slot is freed at once and what it returns later is dropped', async () => {
    const c = cluster!;
    const ignorer = await c.hold('w0', { ignore: true });
    await c.waitRecord({ e: 'start', job: ignorer, worker: 'w0' });

    expect(await c.jobs.cancel(ignorer)).toBe(true);
    expect(await c.waitRecord({ e: 'aborted', job: ignorer })).toMatchObject({
      worker: 'w0',
      reason: 'JobCancelledError',
      cancelled: true,
    });

    // w0 has one slot, and the ignoring handler has not returned: another job runs in it.
    await c.probe('w0');
    expect(c.records({ e: 'returned', job: ignorer })).toEqual([]);

    c.release('w0', ignorer);
    expect(await c.waitRecord({ e: 'returned', job: ignorer })).toMatchObject({ aborted: true });
    await c.probe('w0');
    expect(await c.jobs.get(ignorer)).toMatchObject({
      status: 'cancelled',
      attempts: 1,
      result: null,
      lockedBy: null,
    });
    // Dropped, not refused by the database: the runner never tried to write it.
    expect(c.outcomeLines('w0', ignorer)).toEqual([]);
  });

  it('a worker stopped past its lease loses the job to another: it sees JobLeaseLostError and its late outcome is dropped', async () => {
    const c = cluster!;
    // The first attempt ignores its signal (it returns when released); the second listens.
    const job = await c.hold('shared', { ignoreAttempt: 1 });
    const first = await c.waitRecord({ e: 'start', job, attempt: 1 });
    const stopped = first.worker;
    const rescuer = stopped === 'w0' ? 'w1' : 'w0';

    process.kill(c.worker(stopped).pid, 'SIGSTOP');
    try {
      // The lease runs out; the rescuer's housekeeping makes the job due again and it claims it.
      await c.waitRecord({ e: 'start', job, worker: rescuer }, 30_000);
    } finally {
      process.kill(c.worker(stopped).pid, 'SIGCONT');
    }
    const taken = await c.jobs.get(job);
    expect(taken).toMatchObject({ status: 'running', attempts: 2 });

    expect(await c.waitRecord({ e: 'aborted', job, worker: stopped })).toMatchObject({
      attempt: 1,
      reason: 'JobLeaseLostError',
      leaseLost: true,
      cancelled: false,
    });

    c.release(stopped, job);
    expect(await c.waitRecord({ e: 'returned', job, worker: stopped })).toMatchObject({
      attempt: 1,
      aborted: true,
    });
    await c.probe(stopped);
    // The late outcome of attempt 1 was dropped: the rescuer's run still holds the job.
    expect(await c.jobs.get(job)).toMatchObject({
      status: 'running',
      attempts: 2,
      lockedBy: taken!.lockedBy,
      result: null,
    });
    expect(c.outcomeLines(stopped, job)).toEqual([]);
    expect(c.records({ e: 'aborted', job, worker: rescuer })).toEqual([]);

    // And the job is the rescuer's: a cancel reaches its run.
    expect(await c.jobs.cancel(job)).toBe(true);
    expect(await c.waitRecord({ e: 'aborted', job, worker: rescuer })).toMatchObject({
      attempt: 2,
      reason: 'JobCancelledError',
    });
    expect(await c.jobs.get(job)).toMatchObject({ status: 'cancelled', result: null });
  });
});
