import type { JobStatus } from '../interfaces/job-context.interface.js';

/** One attempt of a job as its page's timeline shows it. */
export interface Attempt {
  /** Its number (1 for the first), or null for a run the housekeeper or a shutdown ended. */
  attempt: number | null;
  /** The attempts the job had then (`of M`), when known. */
  of: number | null;
  started: Date | null;
  /** When it ended; null while it runs. */
  ended: Date | null;
  outcome: 'running' | 'succeeded' | 'retrying' | 'failed' | 'cancelled' | 'interrupted' | 'ended';
  /** The error's summary (or what interrupted it), as the runner logged it. */
  error: string | null;
  /** The instance that ran it (`locked_by`), when known. */
  instance: string | null;
}

/** What of a job's row the timeline reads: its columns keep only the last attempt. */
export interface AttemptColumns {
  status: JobStatus;
  attempts: number;
  maxAttempts: number;
  lastRun: Date | null;
  finishedAt: Date | null;
  lockedBy: string | null;
  logs: string | null;
}

/**
 * A failed attempt's line, as lib/runner/job-execution.ts `fail()` writes it through run-log.ts's
 * `logLine`: `[<ISO time>] attempt N of M failed: <summary>; retry in X ms` (or `; no attempts left`,
 * or a schedule's `; next occurrence <time>`), and the later form that also says when and where it
 * started: `attempt N of M (started <ISO time> on <instance>) failed: ...`.
 */
const FAILED_LINE =
  /^\[([^\]]+)\] attempt (\d+) of (\d+)(?: \(started (\S+) on (.+?)\))? failed: (.*?)(?:; (retry in \d+ ms|no attempts left|next occurrence \S+))?$/;

/** A run that ended without an outcome: the housekeeper reaped its lease, or a shutdown released it. */
const INTERRUPTED_LINE = /^\[([^\]]+)\] (lease expired.*|released unfinished.*)$/;

function date(text: string | undefined): Date | null {
  if (text === undefined) return null;
  const value = new Date(text);
  return Number.isNaN(value.getTime()) ? null : value;
}

/** The outcome of a run the row's columns describe (its last), by the job's status now. */
const LAST_OUTCOME: Record<JobStatus, Attempt['outcome']> = {
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  pending: 'ended',
  paused: 'ended',
};

/**
 * A job's attempts, oldest first: one per failure line of its logs (the logs keep their newest
 * lines, so the oldest attempts of a long history may be gone), and the last attempt from the row's
 * columns (`last_run`, `finished_at`, `locked_by`) when no line tells it, or to fill in what its
 * line leaves out (the old form has no start nor instance).
 */
export function attemptsOf(job: AttemptColumns): Attempt[] {
  const attempts: Attempt[] = [];
  for (const line of (job.logs ?? '').split('\n')) {
    const failed = FAILED_LINE.exec(line);
    if (failed) {
      const [, at, number, of, started, instance, summary, next] = failed;
      attempts.push({
        attempt: Number(number),
        of: Number(of),
        started: date(started),
        ended: date(at),
        outcome: next?.startsWith('retry') ? 'retrying' : 'failed',
        error: summary,
        instance: instance ?? null,
      });
      continue;
    }
    const interrupted = INTERRUPTED_LINE.exec(line);
    if (interrupted) {
      attempts.push({
        attempt: null,
        of: null,
        started: null,
        ended: date(interrupted[1]),
        outcome: 'interrupted',
        error: interrupted[2],
        instance: null,
      });
    }
  }
  if (!job.lastRun) return attempts;
  const last = attempts[attempts.length - 1];
  const lineEndsLastRun =
    last !== undefined &&
    last.ended !== null &&
    last.ended.getTime() >= job.lastRun.getTime() &&
    job.status !== 'running';
  if (lineEndsLastRun) {
    last.started ??= job.lastRun;
    last.instance ??= job.lockedBy;
    return attempts;
  }
  attempts.push({
    attempt: job.attempts > 0 ? job.attempts : null,
    of: job.attempts > 0 ? job.maxAttempts : null,
    started: job.lastRun,
    ended: job.status === 'running' ? null : job.finishedAt,
    outcome: LAST_OUTCOME[job.status],
    error: null,
    instance: job.lockedBy,
  });
  return attempts;
}
