/**
 * A job's attempts as a timeline: one per failure line the runner logged (the old form, and the
 * form that also says when and where the attempt started), the last one from the row's columns.
 */
import { Injectable } from '@nestjs/common';
import { JobKind, type JobContext } from 'nestjs-typeorm-jobs';
import { attemptsOf, type AttemptColumns } from '../lib/dashboard/dashboard.attempts.js';
import { describeBackends } from './support/backends.js';
import { DashboardClient, startDashboardApp, type DashboardApp } from './support/browser.js';
import { closeCleaners, freshDatabase, waitFor } from './support/fixtures.js';

afterAll(closeCleaners);

const at = (time: string) => new Date(`2026-11-24T10:${time}Z`);
const job = (change: Partial<AttemptColumns>): AttemptColumns => ({
  status: 'pending',
  attempts: 0,
  maxAttempts: 3,
  lastRun: null,
  finishedAt: null,
  lockedBy: null,
  logs: null,
  ...change,
});

describe('attemptsOf', () => {
  it('reads nothing from a job never run', () => {
    expect(attemptsOf(job({}))).toEqual([]);
  });

  it('reads the old failure lines, and the last attempt from the columns', () => {
    const logs = [
      '[2026-11-24T10:00:01.000Z] sending',
      '[2026-11-24T10:00:02.000Z] attempt 1 of 3 failed: Error: SMTP 451; retry in 1000 ms',
      '[2026-11-24T10:00:04.000Z] attempt 2 of 3 failed: Error: a; b; retry in 2000 ms',
      '',
    ].join('\n');
    const attempts = attemptsOf(
      job({ status: 'running', attempts: 3, lastRun: at('00:06'), lockedBy: 'web-1', logs }),
    );
    expect(attempts).toEqual([
      {
        attempt: 1,
        of: 3,
        started: null,
        ended: at('00:02'),
        outcome: 'retrying',
        error: 'Error: SMTP 451',
        instance: null,
      },
      {
        attempt: 2,
        of: 3,
        started: null,
        ended: at('00:04'),
        outcome: 'retrying',
        error: 'Error: a; b',
        instance: null,
      },
      {
        attempt: 3,
        of: 3,
        started: at('00:06'),
        ended: null,
        outcome: 'running',
        error: null,
        instance: 'web-1',
      },
    ]);
  });

  it('reads the new form with start and instance; the last line is the last attempt', () => {
    const logs = [
      '[2026-11-24T10:00:02.000Z] attempt 1 of 2 (started 2026-11-24T10:00:01.500Z on web-1 (pid 7)) failed: Error: x; retry in 10 ms',
      '[2026-11-24T10:00:09.000Z] attempt 2 of 2 failed: TypeError: y; no attempts left',
    ].join('\n');
    const attempts = attemptsOf(
      job({ status: 'failed', attempts: 2, lastRun: at('00:08'), finishedAt: at('00:09'), logs }),
    );
    expect(attempts.map((a) => [a.attempt, a.started, a.instance, a.outcome, a.error])).toEqual([
      [1, new Date('2026-11-24T10:00:01.500Z'), 'web-1 (pid 7)', 'retrying', 'Error: x'],
      [2, at('00:08'), null, 'failed', 'TypeError: y'],
    ]);
  });

  it('keeps interrupted runs and a schedule occurrence, and adds a success after a failure', () => {
    const logs = [
      '[2026-11-24T10:00:02.000Z] lease expired: the instance running it stopped or lost the database',
      '[2026-11-24T10:00:05.000Z] attempt 1 of 1 failed: Error: z; next occurrence 2026-11-24T11:00:00.000Z',
    ].join('\n');
    const attempts = attemptsOf(
      job({
        status: 'succeeded',
        attempts: 1,
        maxAttempts: 1,
        lastRun: at('00:07'),
        finishedAt: at('00:08'),
        logs,
      }),
    );
    expect(attempts.map((a) => [a.attempt, a.outcome, a.ended])).toEqual([
      [null, 'interrupted', at('00:02')],
      [1, 'failed', at('00:05')],
      [1, 'succeeded', at('00:08')],
    ]);
  });
});

/** Fails twice, then succeeds. */
@Injectable()
class FlakyHandler {
  @JobKind('flaky.call', { maxAttempts: 3 })
  call(job: JobContext<{ url: string }>) {
    if (job.attempt < 3) throw new Error(`HTTP 503 from ${job.data.url} <try ${job.attempt}>`);
    return 'ok';
  }
}

describeBackends('dashboard: a job page shows its attempts', (backend) => {
  let dashboard: DashboardApp;
  afterEach(() => dashboard?.close());

  it('lists each attempt with its outcome and error, the last one succeeded', async () => {
    dashboard = await startDashboardApp({
      database: await freshDatabase(backend),
      providers: [FlakyHandler],
    });
    const { id } = await dashboard.jobs.enqueue('flaky.call', { url: 'https://example.com' });
    await waitFor(
      async () => (await dashboard.jobs.get(id))?.status === 'succeeded',
      'the third attempt to succeed',
    );
    const page = await new DashboardClient(dashboard.origin).get(`/jobs/jobs/${id}`);
    expect(page.status).toBe(200);
    const rows = [...page.text.matchAll(/data-attempt="(\d*)" data-outcome="(\w+)"/g)].map(
      (match) => [match[1], match[2]],
    );
    expect(rows).toEqual([
      ['1', 'retrying'],
      ['2', 'retrying'],
      ['3', 'succeeded'],
    ]);
    expect(page.text).toContain('HTTP 503 from https://example.com &lt;try 2&gt;');
  });
});
