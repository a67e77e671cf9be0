import type { ClaimedJob } from '../storage/job-rows.js';

const NONE: readonly ClaimedJob[] = Object.freeze([]);

/** How often the finish rate behind `prefetch` is re-measured. */
const RATE_WINDOW_MS = 100;

/**
 * Jobs claimed ahead of free slots: held under this instance's lease (renewed with the running
 * ones), started as slots free up, given back unstarted at shutdown.
 *
 * How many to hold: the free slots plus about `prefetch` ms of work at the rate jobs have been
 * finishing here, at most `batchSize` per claim, and a claim only once half of that is missing (so
 * a busy runner claims many jobs per statement, and slow jobs stay in the table for other
 * instances).
 */
export class LocalQueue {
  private jobs: ClaimedJob[] = [];
  /**
   * When each held job was claimed (same index as `jobs`), and when the leases of all were last
   * renewed. A parallel array of numbers: a WeakMap entry per job measured ~1 µs of CPU per job.
   */
  private claimedAt: number[] = [];
  private renewedAt = 0;
  /** Jobs found with their lease run out before they could start (see `take`); null: none. */
  private expired: ClaimedJob[] | null = null;
  private state: 'open' | 'released' = 'open';
  /** Jobs per ms finishing here (smoothed), and the window being counted. */
  private rate = 0;
  private window = { start: Date.now(), finished: 0 };

  constructor(
    private readonly settings: {
      concurrency: number;
      batchSize: number;
      prefetch: number;
      lease: number;
    },
  ) {}

  get size(): number {
    return this.jobs.length;
  }

  /** Ids of the jobs held, for lease renewal. */
  ids(): number[] {
    return this.jobs.map((job) => job.id);
  }

  add(jobs: ClaimedJob[], now = Date.now()): void {
    if (this.state === 'released') throw new Error('jobs claimed into a released queue');
    for (const job of jobs) {
      this.jobs.push(job);
      this.claimedAt.push(now);
    }
  }

  /** The leases of the held jobs were renewed at `at`. */
  renewed(at: number): void {
    this.renewedAt = at;
  }

  /**
   * The next job to start, in claim order, passing over those `mayStart` holds back (a kind whose
   * permits are all in use here: lib/limits/kind-permits.ts). A job whose lease ran out while it waited here (the
   * process stalled: no renewal came) may be another instance's by now: it is not started but set
   * aside (`takeExpired`), to be given back.
   */
  take(now = Date.now(), mayStart?: (job: ClaimedJob) => boolean): ClaimedJob | undefined {
    const jobs = this.jobs;
    for (let i = 0; i < jobs.length;) {
      const job = jobs[i];
      if (now - Math.max(this.claimedAt[i], this.renewedAt) >= this.settings.lease) {
        this.removeAt(i);
        (this.expired ??= []).push(job);
      } else if (!mayStart || mayStart(job)) {
        this.removeAt(i);
        return job;
      } else {
        i++;
      }
    }
    return undefined;
  }

  private removeAt(i: number): void {
    if (i === 0) {
      this.jobs.shift();
      this.claimedAt.shift();
    } else {
      this.jobs.splice(i, 1);
      this.claimedAt.splice(i, 1);
    }
  }

  /** The jobs `take` set aside since the last call (the same empty array when none). */
  takeExpired(): readonly ClaimedJob[] {
    const expired = this.expired;
    if (expired === null) return NONE;
    this.expired = null;
    return expired;
  }

  /** The jobs held, in claim order. */
  held(): readonly ClaimedJob[] {
    return this.jobs;
  }

  /** Takes these jobs out (no longer ours: cancelled, reclaimed, deleted). */
  drop(jobs: Set<ClaimedJob>): void {
    const kept = this.jobs.map((_, i) => i).filter((i) => !jobs.has(this.jobs[i]));
    this.claimedAt = kept.map((i) => this.claimedAt[i]);
    this.jobs = kept.map((i) => this.jobs[i]);
  }

  /** Empties the queue for good (shutdown): its jobs are to be given back. */
  release(): ClaimedJob[] {
    this.state = 'released';
    const jobs = this.jobs;
    this.jobs = [];
    this.claimedAt = [];
    return jobs;
  }

  /** A job finished here: counts toward the finish rate. */
  finishedOne(): void {
    this.window.finished++;
  }

  /**
   * How many jobs to claim now: 0 while fewer than half of the wanted ones are missing, or while
   * unwritten outcomes pile up (the database is slower than the handlers: let it catch up).
   */
  claimLimit(running: number, unwritten: number): number {
    if (this.state === 'released') return 0;
    const { concurrency, batchSize } = this.settings;
    const wanted = concurrency - running + this.prefetchTarget();
    const missing = wanted - this.jobs.length;
    if (missing < Math.max(1, wanted / 2)) return 0;
    if (unwritten >= Math.max(concurrency, batchSize)) return 0;
    return Math.min(missing, batchSize);
  }

  /** Jobs finishing here in `ms` at the recent rate. */
  finishedIn(ms: number): number {
    this.prefetchTarget();
    return Math.floor(this.rate * ms);
  }

  /** Jobs worth holding beyond the free slots: `prefetch` ms of work at the recent finish rate. */
  private prefetchTarget(): number {
    const now = Date.now();
    const elapsed = now - this.window.start;
    if (elapsed >= RATE_WINDOW_MS) {
      const observed = this.window.finished / elapsed;
      this.rate = (this.rate + observed) / 2;
      this.window = { start: now, finished: 0 };
    }
    return Math.min(Math.floor(this.rate * this.settings.prefetch), this.settings.batchSize);
  }
}
