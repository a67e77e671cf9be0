import type { EntityManager } from 'typeorm';
import { InvalidJobPayloadError, InvalidJobProgressError } from '../errors/jobs.errors.js';
import { messages } from '../jobs.messages.js';
import { serializePayload } from '../jobs.payload.js';
import type { JobStore } from '../storage/job.store.js';
import type { ClaimedJob } from '../storage/job-rows.js';
import { summarizeError } from './error-text.js';

/** At most one progress write per job in this many ms; the values between are coalesced. */
export const PROGRESS_INTERVAL_MS = 1_000;

/** Progress values are small: a percentage, or a few fields. Larger ones are refused. */
const MAX_PROGRESS_BYTES = 64 * 1024;

interface JobProgress {
  job: ClaimedJob;
  /** The newest value not written yet (JSON text), or null. */
  pending: string | null;
  lastWrite: number;
  writing: Promise<void> | null;
  timer: NodeJS.Timeout | null;
}

/**
 * The progress running handlers report (`job.progress()`), written throttled: the first value at
 * once, then at most one write per PROGRESS_INTERVAL_MS per job, carrying the newest value. Before
 * a run's outcome is written, `settle` stores the value still pending, so the last one reported is
 * never lost. A job that never reports costs nothing here.
 */
export class ProgressWriter {
  private readonly jobs = new Map<number, JobProgress>();

  constructor(
    private readonly store: JobStore,
    private readonly owner: string,
    private readonly hooks: {
      /** A value was stored (the `progress` event). */
      written(job: ClaimedJob, value: unknown): void;
      warn(message: string): void;
    },
  ) {}

  /**
   * Takes a reported value: checks that it is JSON (else rejects, having stored nothing) and writes
   * it now or with the next write. Resolves once written or queued; a failed write is only logged.
   */
  report(job: ClaimedJob, value: unknown): Promise<void> {
    let json: string;
    try {
      if (value === undefined) throw new InvalidJobPayloadError('progress', '$', 'is undefined');
      json = serializePayload('progress', value, MAX_PROGRESS_BYTES);
    } catch (error) {
      const reason =
        error instanceof InvalidJobPayloadError
          ? `${error.path} ${error.reason}`
          : summarizeError(error);
      return Promise.reject(new InvalidJobProgressError(job.id, reason));
    }
    let state = this.jobs.get(job.id);
    if (!state) {
      state = { job, pending: null, lastWrite: 0, writing: null, timer: null };
      this.jobs.set(job.id, state);
    }
    state.pending = json;
    const wait = state.lastWrite + PROGRESS_INTERVAL_MS - Date.now();
    if (state.writing || state.timer) return Promise.resolve();
    if (wait > 0) {
      this.later(state, wait);
      return Promise.resolve();
    }
    return this.write(state);
  }

  /**
   * Stores the value still pending for this job (through `manager`, inside its transaction, when
   * given) and forgets the job. Never throws.
   */
  async settle(id: number, manager?: EntityManager): Promise<void> {
    const state = this.jobs.get(id);
    if (!state) return;
    this.forget(id);
    if (state.writing) await state.writing;
    if (state.pending !== null) await this.write(state, manager);
  }

  /** Whether this job reported progress in this run (and has not been settled or forgotten). */
  has(id: number): boolean {
    return this.jobs.size > 0 && this.jobs.has(id);
  }

  /** Drops what is pending for a job whose run was abandoned. */
  forget(id: number): void {
    const state = this.jobs.get(id);
    if (!state) return;
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
    this.jobs.delete(id);
  }

  private later(state: JobProgress, wait: number): void {
    state.timer = setTimeout(() => {
      state.timer = null;
      if (this.jobs.get(state.job.id) === state && state.pending !== null) void this.write(state);
    }, wait);
    state.timer.unref();
  }

  private write(state: JobProgress, manager?: EntityManager): Promise<void> {
    const json = state.pending!;
    state.pending = null;
    state.lastWrite = Date.now();
    const writing = this.store
      .setProgress(this.owner, state.job, json, manager)
      .then(
        (held) => {
          if (held) this.hooks.written(state.job, JSON.parse(json));
        },
        (error: unknown) => {
          // Inside a job's transaction the error is the transaction's: let it roll back.
          if (manager) throw error;
          this.hooks.warn(messages.progressNotSaved(state.job.id, summarizeError(error)));
        },
      )
      .finally(() => {
        state.writing = null;
        // A value reported meanwhile goes with the next write.
        if (state.pending !== null && !state.timer && this.jobs.get(state.job.id) === state) {
          this.later(state, Math.max(0, state.lastWrite + PROGRESS_INTERVAL_MS - Date.now()));
        }
      });
    state.writing = writing.catch(() => undefined);
    return writing;
  }
}
