import { messages } from '../jobs.messages.js';
import type { JobStore } from '../storage/job.store.js';
import type { ClaimedJob, JobUpdate } from '../storage/job-rows.js';
import { isTransient } from '../storage/transient.js';
import { summarizeError } from './error-text.js';
import type { RunOutcome } from './job-execution.js';
import { logLine } from './run-log.js';

/** A run whose outcome was written while this instance still held its job. */
export interface WrittenRun {
  job: ClaimedJob;
  outcome: RunOutcome;
}

interface PendingRun extends WrittenRun {
  /** After this moment our lease is gone and the write would be refused anyway. */
  deadline: number;
}

export interface OutcomeWriterSettings {
  lease: number;
  /** Retention `succeeded: 0`: a success deletes its job instead of writing its outcome. */
  deleteSucceeded: boolean;
}

export interface OutcomeWriterHooks {
  /** Outcomes now in the database (events are told from here: listeners see what is stored). */
  written(runs: WrittenRun[]): void;
  /** A flush ended; the runner may want to claim again. */
  flushed(): void;
  warn(message: string): void;
}

/**
 * Writes the ends of runs, batched: outcomes that arrive in the same turn of the event loop go in
 * one statement per owner (see JobStore.finish). When the database refuses a batch, its runs are
 * written one by one, so one bad row cannot make the others run again; a run whose outcome is
 * refused alone is written without its result and logs, with the reason. A deadlock is no refusal:
 * the same runs are written again shortly. When even a stripped write fails, the database itself is
 * failing: the runs are kept and retried until their leases run out.
 */
export class OutcomeWriter {
  private buffer: PendingRun[] = [];
  /** The runs being written. */
  private writing: PendingRun[] = [];
  private flushing: Promise<void> | null = null;
  private flushQueued = false;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: JobStore,
    private readonly settings: OutcomeWriterSettings,
    private readonly hooks: OutcomeWriterHooks,
  ) {}

  /** Outcomes not written yet. */
  get size(): number {
    return this.buffer.length;
  }

  /** The jobs whose outcomes are not written yet (buffered or being written). */
  pending(): ClaimedJob[] {
    return [...this.writing, ...this.buffer].map((run) => run.job);
  }

  add(job: ClaimedJob, outcome: RunOutcome): void {
    // Written already, in the handler's transaction: only listeners are left to tell.
    if (outcome.committed) {
      setImmediate(() => this.hooks.written([{ job, outcome }]));
      return;
    }
    this.buffer.push({ job, outcome, deadline: Date.now() + this.settings.lease });
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      void this.flush();
    });
  }

  /** Writes what is buffered (waiting for a flush in flight first); never throws. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.writing = batch;
    this.flushing = this.write(batch).finally(() => {
      this.flushing = null;
      this.writing = [];
    });
    await this.flushing;
    this.hooks.flushed();
  }

  private async write(batch: PendingRun[]): Promise<void> {
    try {
      const held = await this.finish(batch);
      this.report(batch, held);
    } catch (error) {
      if (isTransient(error)) this.retrySoon(batch, error);
      else if (batch.length === 1) await this.writeStripped(batch, 0, error);
      else await this.writeOneByOne(batch);
    }
  }

  /** A deadlock or a lock timeout: nothing was written; the same runs are written again shortly. */
  private retrySoon(runs: PendingRun[], error: unknown): void {
    this.keep(runs, error);
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = null;
        void this.flush();
      },
      10 + Math.random() * 40,
    );
  }

  /** Writes these runs' ends (`update` in place of the first's own, if given) and marks what the database reported. */
  private async finish(runs: PendingRun[], update?: JobUpdate): Promise<boolean[]> {
    const report = { awaited: [] as number[], linked: [] as number[] };
    const updates = update ? [update] : runs.map((run) => run.outcome.update);
    const held = await this.store.finish(updates, this.settings.deleteSucceeded, report);
    markReported(runs, report);
    return held;
  }

  private async writeOneByOne(batch: PendingRun[]): Promise<void> {
    for (let i = 0; i < batch.length; i++) {
      try {
        this.report([batch[i]], await this.finish([batch[i]]));
      } catch (error) {
        if (isTransient(error)) return this.retrySoon(batch.slice(i), error);
        if (!(await this.writeStripped(batch, i, error))) return;
      }
    }
  }

  /**
   * Writes run `i` of the batch without its result and logs, saying why. Returns false when that
   * failed too: then the database is failing, and run `i` and those after it are kept for later.
   */
  private async writeStripped(batch: PendingRun[], i: number, refusal: unknown): Promise<boolean> {
    const run = batch[i];
    const reason = summarizeError(refusal);
    const update = strippedUpdate(run.outcome.update, reason);
    try {
      const held = await this.finish([run], update);
      this.hooks.warn(messages.outcomeRefused(run.job.id, reason));
      this.report([{ ...run, outcome: { ...run.outcome, update } }], held);
      return true;
    } catch (error) {
      this.keep(batch.slice(i), error);
      return false;
    }
  }

  /** Keeps what can still be written; the rest will run again once its lease expires. */
  private keep(runs: PendingRun[], error: unknown): void {
    const now = Date.now();
    for (const run of runs) {
      if (run.deadline > now) this.buffer.push(run);
      else this.hooks.warn(messages.resultNotSaved(run.job.id, summarizeError(error)));
    }
  }

  private report(runs: PendingRun[], held: boolean[]): void {
    // Settled (written, or not ours any more) before anyone is told: their slots are free.
    const settled = new Set(runs);
    this.writing = this.writing.filter((run) => !settled.has(run));
    const written: WrittenRun[] = [];
    runs.forEach((run, i) => {
      if (held[i]) written.push({ job: run.job, outcome: run.outcome });
      else this.hooks.warn(messages.leaseLost(run.job.id));
    });
    if (written.length > 0) this.hooks.written(written);
  }
}

/** Notes on the runs that someone waits for (PostgreSQL's finish says which). */
/** Marks the runs whose job someone awaits, and those whose end must be settled (lib/flows/). */
export function markReported(
  runs: WrittenRun[],
  report: { awaited: number[]; linked: number[] },
): void {
  if (report.awaited.length === 0 && report.linked.length === 0) return;
  const awaited = new Set(report.awaited);
  const linked = new Set(report.linked);
  for (const run of runs) {
    if (awaited.has(run.job.id)) run.outcome.awaited = true;
    if (linked.has(run.job.id)) run.outcome.linked = true;
  }
}

/** The same end of the run, without what the database refused to store (result, logs, error text). */
function strippedUpdate(update: JobUpdate, reason: string): JobUpdate {
  const note = `the outcome could not be stored as it was (${reason}); its result and logs were dropped`;
  return {
    id: update.id,
    owner: update.owner,
    heldAttempt: update.heldAttempt,
    status: update.status,
    failed: update.failed,
    runAt: update.runAt,
    attempts: update.attempts,
    finishedAt: update.finishedAt,
    lastError: update.lastError === null ? null : note,
    appendLogs: logLine(Date.now(), note),
    result: null,
    keyed: update.keyed,
  };
}
