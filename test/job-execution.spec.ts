import { JobTimeoutError } from 'nestjs-typeorm-jobs';
import type { RegisteredKind } from '../lib/jobs.registry.js';
import { RunAbort, runJob, type RunOutcome } from '../lib/runner/job-execution.js';
import type { ClaimedJob, JobUpdate } from '../lib/storage/job-rows.js';

/**
 * One run's outcome rules, row by row: the table in lib/runner/job-execution.ts. `runJob` is pure
 * (no database), so each row is a handler, a job and the update the runner would write.
 */

const NOW = 1_800_000_000_000;
const settings = { owner: 'me', maxBackoff: 3_600_000, now: () => NOW };

function claimed(overrides: Partial<ClaimedJob> = {}): ClaimedJob {
  return {
    id: 7,
    kind: 'k',
    queue: 'default',
    data: '{"n":1}',
    attempts: 1,
    maxAttempts: 3,
    periodic: false,
    interval: null,
    uniqueKey: null,
    schedule: null,
    runAt: NOW - 50,
    timeout: null,
    backoff: null,
    group: null,
    ...overrides,
  };
}

function kind(
  handler: RegisteredKind['handler'],
  overrides: Partial<RegisteredKind> = {},
): RegisteredKind {
  return {
    name: 'k',
    source: 'Test.k',
    handler,
    maxAttempts: 3,
    backoff: 1_000,
    timeout: null,
    queue: 'default',
    priority: 0,
    schedule: null,
    limits: null,
    ...overrides,
  };
}

const boom = () => {
  throw new Error('boom');
};

interface Row {
  title: string;
  job?: Partial<ClaimedJob>;
  kind?: RegisteredKind | undefined;
  verdict: RunOutcome['verdict'];
  update: Partial<JobUpdate>;
  logs?: string;
  lastError?: string;
}

const rows: Row[] = [
  {
    title: 'returns nothing: succeeded, finished now, run_at kept',
    kind: kind(() => undefined),
    verdict: 'succeeded',
    update: {
      status: 'succeeded',
      failed: false,
      runAt: NOW - 50,
      attempts: 1,
      finishedAt: NOW,
      result: null,
      appendLogs: '',
    },
  },
  {
    title: 'returns a string: logged and kept as the result',
    kind: kind(() => 'all done'),
    verdict: 'succeeded',
    update: { status: 'succeeded', result: '"all done"' },
    logs: 'all done',
  },
  {
    title: 'returns a JSON value: kept as the result',
    kind: kind((job) => ({ doubled: (job.data as { n: number }).n * 2 })),
    verdict: 'succeeded',
    update: { status: 'succeeded', result: '{"doubled":2}' },
  },
  {
    title: 'returns a value JSON would not keep: succeeded, no result, the reason logged',
    kind: kind(() => ({ when: 10n })),
    verdict: 'succeeded',
    update: { status: 'succeeded', result: null },
    logs: 'not JSON',
  },
  {
    title: "the context's functions work when taken off it (const { log, snooze } = job)",
    kind: kind((job) => {
      const { log, snooze } = job;
      log('taken off the context');
      return snooze(5_000, 'later');
    }),
    verdict: 'snoozed',
    update: { status: 'pending', runAt: NOW + 5_000 },
    logs: 'taken off the context',
  },
  {
    title: 'returns job.snooze(ms): pending in ms, the attempt given back',
    kind: kind((job) => job.snooze(5_000, 'not yet')),
    verdict: 'snoozed',
    update: { status: 'pending', failed: false, runAt: NOW + 5_000, attempts: 0, finishedAt: null },
    logs: 'snoozed for 5000 ms: not yet',
  },
  {
    title: 'throws with attempts left: pending after the backoff, failed flag set',
    kind: kind(boom),
    verdict: 'retrying',
    update: { status: 'pending', failed: true, runAt: NOW + 1_000, attempts: 1, finishedAt: null },
    logs: `attempt 1 of 3 (started ${new Date(NOW).toISOString()} on me) failed: Error: boom; retry in 1000 ms`,
    lastError: 'Error: boom',
  },
  {
    title: 'throws on its second attempt: the backoff doubles',
    job: { attempts: 2 },
    kind: kind(boom),
    verdict: 'retrying',
    update: { status: 'pending', runAt: NOW + 2_000, attempts: 2 },
  },
  {
    title: 'throws with no attempts left: failed for good, finished now',
    job: { attempts: 3 },
    kind: kind(boom),
    verdict: 'failed',
    update: { status: 'failed', failed: true, finishedAt: NOW, attempts: 3 },
    logs: 'no attempts left',
  },
  {
    title: 'a backoff given at enqueue wins over the kind',
    job: { backoff: '{"type":"fixed","delay":70}', attempts: 2 },
    kind: kind(boom),
    verdict: 'retrying',
    update: { status: 'pending', runAt: NOW + 70 },
  },
  {
    title: 'no handler in this instance: failed for good, saying so',
    kind: undefined,
    verdict: 'failed',
    update: { status: 'failed', failed: true },
    lastError: 'No handler for kind "k"',
  },
  {
    title: 'periodic, returns: pending again after its interval, attempts reset',
    job: { periodic: true, interval: 60_000 },
    kind: kind(() => undefined),
    verdict: 'rescheduled',
    update: {
      status: 'pending',
      failed: false,
      runAt: NOW + 60_000,
      attempts: 0,
      finishedAt: null,
    },
  },
  {
    title: 'declared schedule, throws with no attempts left: the next occurrence is due as usual',
    job: {
      periodic: true,
      schedule: '{"every":30000,"missed":"run-once"}',
      attempts: 3,
      runAt: NOW - 10,
    },
    kind: kind(boom, { schedule: { every: 30_000, missed: 'run-once' } }),
    verdict: 'failed',
    update: { status: 'pending', failed: true, runAt: NOW + 30_000, attempts: 0, finishedAt: null },
    logs: 'next occurrence',
  },
  {
    title: "declared schedule with missed: 'skip', an occurrence missed: skipped without running",
    job: { periodic: true, schedule: '{"every":1000,"missed":"skip"}', runAt: NOW - 60_000 },
    kind: kind(boom, { schedule: { every: 1_000, missed: 'skip' } }),
    verdict: 'rescheduled',
    update: { status: 'pending', failed: false, runAt: NOW + 1_000, attempts: 0 },
    logs: 'missed occurrences skipped',
  },
];

describe('one run, row by row (lib/runner/job-execution.ts)', () => {
  it.each(rows)('$title', async (row) => {
    const outcome = await runJob(claimed(row.job), row.kind, new RunAbort(), settings);
    expect(outcome.verdict).toBe(row.verdict);
    expect(outcome.update).toMatchObject({ id: 7, owner: 'me', ...row.update });
    if (row.logs) expect(outcome.update.appendLogs).toContain(row.logs);
    if (row.lastError) expect(outcome.update.lastError).toContain(row.lastError);
  });

  it('exceeds its timeout: fails as a throw with JobTimeoutError, its signal aborted', async () => {
    const controller = new RunAbort();
    let aborted: unknown = null;
    const never = kind(
      (job) =>
        new Promise(() =>
          job.signal.addEventListener('abort', () => (aborted = job.signal.reason)),
        ),
      { timeout: 20 },
    );
    const outcome = await runJob(claimed(), never, controller, { ...settings, now: Date.now });
    expect(outcome.verdict).toBe('retrying');
    expect(outcome.error).toBeInstanceOf(JobTimeoutError);
    expect(aborted).toBeInstanceOf(JobTimeoutError);
    expect(outcome.update.lastError).toContain('JobTimeoutError');
  });

  it("counts its timeout from before the handler's synchronous part", async () => {
    // 60 ms of synchronous work, then an await of 30 ms: with a timeout of 50 ms counted from the
    // start, the run is over time once the event loop turns; counted from the end of the
    // synchronous part, it would succeed.
    const busy = kind(
      async () => {
        const until = Date.now() + 60;
        while (Date.now() < until) {
          // the handler's synchronous part
        }
        await new Promise((resolve) => setTimeout(resolve, 30));
        return 'late';
      },
      { timeout: 50 },
    );
    const outcome = await runJob(claimed(), busy, new RunAbort(), { ...settings, now: Date.now });
    expect(outcome.verdict).toBe('retrying');
    expect(outcome.error).toBeInstanceOf(JobTimeoutError);
  });

  it("gives a synchronous handler's value and a synchronous throw their outcomes under a timeout", async () => {
    const value = await runJob(
      claimed(),
      kind(() => 'done', { timeout: 1_000 }),
      new RunAbort(),
      settings,
    );
    expect(value.verdict).toBe('succeeded');
    expect(value.update.appendLogs).toContain('done');
    const thrown = await runJob(
      claimed(),
      kind(boom, { timeout: 1_000 }),
      new RunAbort(),
      settings,
    );
    expect(thrown.verdict).toBe('retrying');
    expect(thrown.update.lastError).toContain('boom');
  });
});
