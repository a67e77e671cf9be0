/**
 * The fault harness: real OS processes (test/fault/worker.mjs, each a Nest application context
 * importing JobsModule from dist/ as a user's app would) against one database, and the checks of
 * what came out: the rows of nest_jobs and the run records every handler appends to a file.
 */
import type { TestingModule } from '@nestjs/testing';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  createWriteStream,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { Injectable } from '@nestjs/common';
import { JobKind, JobsService, type JobsModuleOptions } from 'nestjs-typeorm-jobs';
import { startApp } from '../support/fixtures.js';
import { recreateDatabase } from '../support/backends.js';

const WORKER = fileURLToPath(new URL('./worker.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIGURES_DIR = join(ROOT, 'test-results', 'fault');

/** Jobs in the throughput scenarios: `JOBS_FAULT_SIZE`, 2,000 by default (the full size is 20,000). */
export const FAULT_SIZE = Number(process.env.JOBS_FAULT_SIZE ?? 2_000);

/** A time limit that grows with the number of jobs, for machines much slower than expected. */
export function limitFor(jobs: number): number {
  return 60_000 + jobs * 30;
}

export type ServerName = 'postgres' | 'mysql';

export interface ServerBackend {
  name: ServerName;
  /** Why it does not run here, or null. */
  skipped: string | null;
  url: string;
}

export const serverBackends: ServerBackend[] = [
  { name: 'postgres', variable: 'JOBS_TEST_POSTGRES_URL' },
  { name: 'mysql', variable: 'JOBS_TEST_MYSQL_URL' },
].map(({ name, variable }) => ({
  name: name as ServerName,
  skipped: process.env[variable] ? null : `${variable} is not set`,
  url: process.env[variable] ?? '',
}));

/** `describe` per server backend; a backend without its URL is skipped with the reason in its title. */
export function describeServers(title: string, suite: (backend: ServerBackend) => void): void {
  for (const backend of serverBackends) {
    if (backend.skipped) {
      describe.skip(`${title} [${backend.name}: skipped, ${backend.skipped}]`, () => {
        it('is skipped', () => undefined);
      });
    } else {
      describe(`${title} [${backend.name}]`, () => suite(backend));
    }
  }
}

/** Drops and creates the database `<prefix>_fault` on a server; returns options for it (JSON, for the workers too). */
export async function freshServerDatabase(
  type: ServerName,
  baseUrl: string,
): Promise<DataSourceOptions> {
  const database = await recreateDatabase(
    type,
    baseUrl,
    `${process.env.JOBS_TEST_DB_PREFIX ?? 'jobs_test'}_fault`,
  );
  return { ...database, ...(type === 'mysql' ? { charset: 'utf8mb4' } : {}) } as DataSourceOptions;
}

/** A new SQLite file shared by every process, in WAL mode with a 10 s busy timeout. */
export function freshSqliteDatabase(dir: string): DataSourceOptions {
  return {
    type: 'better-sqlite3',
    database: join(dir, 'jobs.db'),
    enableWAL: true,
    timeout: 10_000,
  } as DataSourceOptions;
}

/** What a worker process is told (see worker.mjs). */
export interface WorkerOptions {
  jobs?: JobsModuleOptions;
  handlerMs?: number;
  maxHandlerMs?: number;
  timeout?: number;
  periodic?: { interval: number };
}

/** One line of a run record file. */
export interface RunRecord {
  e: 'ready' | 'start' | 'end' | 'aborted' | 'closed';
  worker: string;
  pid: number;
  t: number;
  job?: number;
  attempt?: number;
  kind?: string;
  reason?: string;
}

/** A worker process: its output (Nest's logs), and how it ended. */
export class Worker {
  output = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;
  /** Set by the harness when the test kills or stops this worker on purpose. */
  stoppedOnPurpose = false;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    logFile: string,
  ) {
    const log = createWriteStream(logFile);
    const collect = (chunk: Buffer) => {
      this.output += chunk.toString();
      log.write(chunk);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        log.end();
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  /** Lines of its output that match. */
  lines(pattern: RegExp): string[] {
    return this.output.split('\n').filter((line) => pattern.test(line));
  }

  kill(signal: NodeJS.Signals): void {
    this.stoppedOnPurpose = true;
    this.child.kill(signal);
  }
}

/** Waits until `check` returns a truthy value; errors (a database that is down) count as "not yet". */
export async function until<T>(
  check: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  what: string,
  timeout: number,
): Promise<T> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (error) {
      // A dead worker will not come back: say so now rather than at the timeout.
      if (error instanceof Fatal) throw error;
      last = (error as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(
        `Timed out after ${timeout} ms waiting for ${what}; last: ${JSON.stringify(last)}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Quiet handlers in the enqueuing app: it never runs jobs (runner: false), it only names the kinds. */
@Injectable()
class FaultKinds {
  @JobKind('fault.work')
  work(): void {
    throw new Error('fault jobs run in the worker processes');
  }

  @JobKind('fault.timed', { maxAttempts: 1 })
  timed(): void {
    throw new Error('fault jobs run in the worker processes');
  }

  @JobKind('fault.tick')
  tick(): void {
    throw new Error('fault jobs run in the worker processes');
  }
}

export interface JobRow {
  id: number;
  status: string;
  attempts: number;
  lockedBy: string | null;
  runAt: number;
  logs: string | null;
  lastError: string | null;
}

/**
 * One scenario: a directory for records and logs, the database, an app that enqueues (and creates
 * the schema, as a migration would), and the worker processes.
 */
export class FaultRun {
  readonly workers: Worker[] = [];
  private readonly recordCache = new Map<string, { offset: number; records: RunRecord[] }>();

  private constructor(
    readonly label: string,
    readonly dir: string,
    readonly database: DataSourceOptions,
    readonly app: TestingModule,
  ) {}

  static async open(label: string, database: DataSourceOptions): Promise<FaultRun> {
    const dir = mkdtempSync(join(tmpdir(), `jobs-fault-${label}-`));
    const app = await startApp({ database, jobs: { runner: false }, providers: [FaultKinds] });
    return new FaultRun(label, dir, database, app);
  }

  get jobs(): JobsService {
    return this.app.get(JobsService);
  }

  get source(): DataSource {
    return this.app.get(DataSource);
  }

  /** Starts a worker process and waits until its app has bootstrapped. */
  /** Starts a worker process: worker.mjs, or `script` (another replica taking the same config). */
  async start(
    name: string,
    options: WorkerOptions | Record<string, unknown> = {},
    script = WORKER,
  ): Promise<Worker> {
    const config = {
      name,
      database: this.database,
      runs: join(this.dir, `runs-${name}.jsonl`),
      ...options,
    };
    const child = spawn(process.execPath, [script, JSON.stringify(config)], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const worker = new Worker(name, child, join(this.dir, `${name}.log`));
    this.workers.push(worker);
    await Promise.race([
      until(
        () => worker.output.includes(`FAULT-WORKER-READY ${name}`),
        `worker ${name} to start`,
        120_000,
      ),
      worker.exited.then(() => {
        throw new Error(
          `worker ${name} exited while starting (code ${worker.exitCode}):\n${worker.output}`,
        );
      }),
    ]);
    return worker;
  }

  /** Starts `count` workers named w0, w1, ... at once, with the same options. */
  startMany(count: number, options: WorkerOptions = {}): Promise<Worker[]> {
    return Promise.all(Array.from({ length: count }, (_, i) => this.start(`w${i}`, options)));
  }

  /** Enqueues `count` jobs of 'fault.work' in batches, as one user call per 1,000; returns their ids. */
  async enqueueWork(count: number, data: Record<string, unknown> = {}): Promise<number[]> {
    const ids: number[] = [];
    for (let i = 0; i < count; i += 1_000) {
      const specs = Array.from({ length: Math.min(1_000, count - i) }, () => ({
        kind: 'fault.work',
        data,
      }));
      ids.push(...(await this.jobs.enqueueMany(specs)).map((job) => job.id));
    }
    return ids;
  }

  async statusCounts(): Promise<Record<string, number>> {
    const rows: Array<{ status: string; n: string | number }> = await this.source.query(
      'SELECT status, COUNT(*) AS n FROM nest_jobs GROUP BY status',
    );
    return Object.fromEntries(rows.map((row) => [row.status, Number(row.n)]));
  }

  /** Waits until `count` jobs have succeeded, failing early if a worker dies unexpectedly. */
  async waitForSucceeded(count: number, timeout = limitFor(count)): Promise<void> {
    await until(
      async () => {
        const dead = this.workers.find((worker) => !worker.running && !worker.stoppedOnPurpose);
        if (dead)
          throw new Fatal(
            `worker ${dead.name} died (code ${dead.exitCode}, signal ${dead.exitSignal}):\n${dead.output.slice(-3_000)}`,
          );
        return ((await this.statusCounts()).succeeded ?? 0) >= count;
      },
      `${count} jobs to succeed`,
      timeout,
    ).catch((error) => {
      throw error instanceof Fatal
        ? error
        : new Error(`${(error as Error).message}\n${this.tails()}`);
    });
  }

  async rows(): Promise<JobRow[]> {
    const rows: Array<Record<string, unknown>> = await this.source.query(
      'SELECT id, status, attempts, locked_by, run_at, logs, last_error FROM nest_jobs ORDER BY id',
    );
    return rows.map((row) => ({
      id: Number(row.id),
      status: String(row.status),
      attempts: Number(row.attempts),
      lockedBy: (row.locked_by as string | null) ?? null,
      runAt: Number(row.run_at),
      logs: (row.logs as string | null) ?? null,
      lastError: (row.last_error as string | null) ?? null,
    }));
  }

  /** Every run record written so far (by one worker, or by all), in time order. */
  records(worker?: string): RunRecord[] {
    const names = worker ? [worker] : this.workers.map((w) => w.name);
    return names.flatMap((name) => this.readRecords(name)).sort((a, b) => a.t - b.t);
  }

  /** How many handler runs have reached their end so far, in every worker. */
  ended(): number {
    return this.workers.reduce(
      (sum, w) => sum + this.readRecords(w.name).filter((r) => r.e === 'end').length,
      0,
    );
  }

  /** The records of one worker's file, reading only what was appended since the last call. */
  private readRecords(worker: string): RunRecord[] {
    const file = join(this.dir, `runs-${worker}.jsonl`);
    const seen = this.recordCache.get(file) ?? { offset: 0, records: [] as RunRecord[] };
    this.recordCache.set(file, seen);
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return seen.records; // not created yet
    }
    try {
      const size = fstatSync(fd).size;
      if (size > seen.offset) {
        const chunk = Buffer.alloc(size - seen.offset);
        readSync(fd, chunk, 0, chunk.length, seen.offset);
        const text = chunk.toString('utf8');
        const complete = text.lastIndexOf('\n') + 1; // a line being written is read next time
        for (const line of text.slice(0, complete).split('\n')) {
          if (line) seen.records.push(JSON.parse(line) as RunRecord);
        }
        seen.offset += Buffer.byteLength(text.slice(0, complete));
      }
    } finally {
      closeSync(fd);
    }
    return seen.records;
  }

  /** The end of each worker's output, for a failure message. */
  tails(): string {
    return this.workers
      .map((w) => `--- ${w.name} (pid ${w.pid})\n${w.output.split('\n').slice(-15).join('\n')}`)
      .join('\n');
  }

  /** Stops every worker still running (SIGTERM, then SIGKILL after 20 s), and the enqueuing app. */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (worker) => {
        if (!worker.running) return;
        worker.kill('SIGTERM');
        const timer = setTimeout(() => worker.running && worker.child.kill('SIGKILL'), 20_000);
        await worker.exited;
        clearTimeout(timer);
      }),
    );
    await this.app.close();
    // Run records and worker logs; JOBS_FAULT_KEEP=1 keeps them to look at.
    if (process.env.JOBS_FAULT_KEEP === '1') process.stdout.write(`[fault] kept ${this.dir}\n`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

class Fatal extends Error {}

/** How the runs of a set of jobs came out, from the rows and the run records. */
export interface Tally {
  jobs: number;
  statuses: Record<string, number>;
  /** Jobs not succeeded, or succeeded without any handler run that reached its end. */
  lost: number[];
  /** Jobs whose handler started more than once, with their starts. */
  twice: Map<number, RunRecord[]>;
  runs: number;
}

export function tally(ids: number[], rows: JobRow[], records: RunRecord[]): Tally {
  const byId = new Map(rows.map((row) => [row.id, row]));
  const starts = new Map<number, RunRecord[]>();
  const ended = new Set<number>();
  for (const record of records) {
    if (record.job === undefined) continue;
    if (record.e === 'start') starts.set(record.job, [...(starts.get(record.job) ?? []), record]);
    if (record.e === 'end') ended.add(record.job);
  }
  const statuses: Record<string, number> = {};
  const lost: number[] = [];
  for (const id of ids) {
    const status = byId.get(id)?.status ?? 'missing';
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status !== 'succeeded' || !ended.has(id)) lost.push(id);
  }
  const twice = new Map([...starts].filter(([id, runs]) => ids.includes(id) && runs.length > 1));
  const runs = ids.reduce((sum, id) => sum + (starts.get(id)?.length ?? 0), 0);
  return { jobs: ids.length, statuses, lost, twice, runs };
}

/** Job ids a worker's log names in one of the runner's messages (e.g. "outcome of job 12 could not be written"). */
export function jobsNamed(worker: Worker, pattern: RegExp): Set<number> {
  const found = new Set<number>();
  for (const line of worker.output.split('\n')) {
    const match = pattern.exec(line);
    if (match) found.add(Number(match[1]));
  }
  return found;
}

/** Writes a scenario's figures to test-results/fault/ and prints them, for docs/reliability.md. */
export function reportFigures(
  scenario: string,
  backend: string,
  figures: Record<string, unknown>,
): void {
  mkdirSync(FIGURES_DIR, { recursive: true });
  const line = JSON.stringify({ scenario, backend, at: new Date().toISOString(), ...figures });
  appendFileSync(join(FIGURES_DIR, 'figures.jsonl'), line + '\n');
  process.stdout.write(`[fault figures] ${line}\n`);
}
