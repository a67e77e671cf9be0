/**
 * `asyncClaimCommit` (PostgreSQL): a claim committed without waiting for the WAL flush is lost when
 * the server crashes before the WAL writer has written it, and only then: the job is pending again
 * and runs a second time, while its end and its `job.transaction()` effects are still written once.
 * With durable claims (the default) the same crash loses nothing and nothing runs twice.
 *
 * Runs against a throwaway server of its own (test/fault/servers.ts) whose WAL writer waits 10 s
 * between rounds, so the claim's WAL record is still in the server's memory when it crashes (an
 * immediate stop: no checkpoint, the processes killed).
 */
import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { JobKind, JobsService, type JobContext } from 'nestjs-typeorm-jobs';
import { startApp, waitFor, waitForStatus } from '../support/fixtures.js';
import { freshServerDatabase } from './harness.js';
import { startThrowaway, throwawayUnavailable, type ThrowawayServer } from './servers.js';

const required = process.env.CI === 'true' || process.env.JOBS_TEST_REQUIRE_ALL === '1';
const EFFECTS = 'claim_commit_effects';

/** Runs that wait until the test lets them go, then write one effect row in `job.transaction()`. */
@Injectable()
class Gated {
  readonly runs: Array<{ id: number; attempt: number; aborted: boolean; release(): void }> = [];
  readonly failures: unknown[] = [];

  @JobKind('claim-commit.gated', { maxAttempts: 5 })
  async gated(job: JobContext) {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const run = { id: job.id, attempt: job.attempt, aborted: false, release };
    job.signal.addEventListener('abort', () => (run.aborted = true));
    this.runs.push(run);
    await gate;
    try {
      await job.transaction((manager) =>
        manager.query(`INSERT INTO ${EFFECTS} (job_id) VALUES ($1)`, [job.id]),
      );
    } catch (error) {
      this.failures.push(error);
      throw error;
    }
  }

  /** Returns at once: shows the runner claims again after the crash. */
  @JobKind('claim-commit.plain')
  plain() {
    return 'done';
  }
}

const unavailable = throwawayUnavailable('postgres');
const title = 'claims committed without waiting for the WAL flush, and a server crash [postgres]';
if (unavailable && !required) {
  describe.skip(`${title}: skipped, ${unavailable}`, () => it('is skipped', () => undefined));
} else {
  describe(title, () => {
    let server: ThrowawayServer | undefined;
    let app: TestingModule | undefined;
    let probe: DataSource | undefined;

    beforeAll(async () => {
      if (unavailable) throw new Error(`This scenario must run here (CI), but: ${unavailable}`);
      server = await startThrowaway('postgres', ['wal_writer_delay=10000']);
    });

    afterEach(async () => {
      await app?.close();
      app = undefined;
      await probe?.destroy();
      probe = undefined;
    });

    afterAll(async () => {
      await server?.stop();
    });

    /** An app on a fresh database, one job enqueued and its first run started (its claim made). */
    async function startedRun(asyncClaimCommit: boolean) {
      const database: DataSourceOptions = await freshServerDatabase('postgres', server!.url);
      probe = new DataSource(database);
      await probe.initialize();
      await probe.query(`CREATE TABLE ${EFFECTS} (job_id integer NOT NULL)`);
      // A lease renewal commits durably, and with it every claim before it: none in the window
      // between the claim and the crash (the first renewal is 10 s after the start).
      app = await startApp({
        database,
        providers: [Gated],
        jobs: { asyncClaimCommit, lease: 30_000, pollInterval: 100 },
      });
      const gated = app.get(Gated);
      const { id } = await app.get(JobsService).enqueue('claim-commit.gated', {});
      await waitFor(() => gated.runs.length === 1, 'the first run to start');
      return { gated, id };
    }

    /** Reconnects the probe after a crash (its connection died with the server). */
    async function reconnect() {
      const options = probe!.options;
      await probe!.destroy().catch(() => undefined);
      probe = new DataSource(options);
      await probe.initialize();
    }

    async function effects(id: number): Promise<number> {
      const rows: Array<{ n: string }> = await probe!.query(
        `SELECT COUNT(*) AS n FROM ${EFFECTS} WHERE job_id = $1`,
        [id],
      );
      return Number(rows[0].n);
    }

    it('loses an asynchronous claim in a crash: the job runs again, its end and effects written once', async () => {
      const { gated, id } = await startedRun(true);
      await server!.crash!();
      await reconnect();
      // The claim never reached the WAL on disk: the job is pending again and the runner claims it
      // anew (the same attempt: the lost claim's was never counted), which stops the first run.
      await waitFor(() => gated.runs.length === 2, 'the job to run a second time', 60_000);
      const [first, second] = gated.runs;
      expect([first.attempt, second.attempt]).toEqual([1, 1]);
      await waitFor(() => first.aborted, 'the first run to be stopped');
      second.release();
      first.release();
      const job = await waitForStatus(app!, id, 'succeeded');
      expect(job.attempts).toBe(1);
      await waitFor(() => gated.failures.length === 1, 'the first run to be refused');
      expect(await effects(id)).toBe(1);
      expect(gated.runs).toHaveLength(2);
    });

    it('keeps a durable claim (the default) through the same crash: nothing runs twice', async () => {
      const { gated, id } = await startedRun(false);
      await server!.crash!();
      await reconnect();
      const [row] = await probe!.query(`SELECT status, attempts FROM nest_jobs WHERE id = $1`, [
        id,
      ]);
      expect(row).toEqual({ status: 'running', attempts: 1 });
      // The runner claims again after the crash (a job enqueued since runs), and leaves the first
      // job to the run that holds it.
      const service = app!.get(JobsService);
      const later = await waitFor(
        () => service.enqueue('claim-commit.plain', {}).catch(() => null),
        'an enqueue to go through after the crash',
        60_000,
      );
      await waitFor(
        async () => (await service.get(later.id))?.status === 'succeeded',
        `job ${later.id} to succeed`,
        60_000,
      );
      gated.runs[0].release();
      await waitForStatus(app!, id, 'succeeded');
      expect(gated.runs).toHaveLength(1);
      expect(gated.runs[0].aborted).toBe(false);
      expect(await effects(id)).toBe(1);
    });
  });
}
