import type { JobsRegistry } from '../jobs.registry.js';
import type { JobStore } from '../storage/job.store.js';
import type { ClaimedJob } from '../storage/job-rows.js';
import { KindPermits, type PermitUsage } from './kind-permits.js';
import type { KindLimits } from './kind-limits.js';
import {
  groupsOnly,
  type Candidate,
  type LimitedClaimRequest,
  type LimitedClaimResult,
} from './limited-claim.js';
import { ScarceGroups } from './scarce-groups.js';

/** Candidates are kept at most a poll interval, and at least this long (ms). */
const CANDIDATES_LIFE = 1_000;

export interface LimitedClaimerSettings {
  owner: string;
  lease: number;
  /** The instance's concurrency. */
  concurrency: number;
  pollInterval: number;
  queues: string[] | null;
}

/** What the runner tells the claimer of its slots and buffer, and how it claims plain kinds. */
export interface LimitedClaimerHost {
  /** How many jobs to claim now (free slots and room in the buffer; 0: none). */
  room(): number;
  /** Free slots: jobs of kinds with a rate limit are claimed for these only. */
  free(): number;
  /** Jobs of this kind in hand: running, claimed ahead, or with their outcome not yet written. */
  inUse(kind: string): number;
  /** Handlers of this kind running. */
  running(kind: string): number;
  /** Jobs this instance finishes in `ms` at its recent rate. */
  finishedIn(ms: number): number;
  /** The plain claim (one statement, no lock) of these kinds. */
  claim(kinds: string[], limit: number, dueBy: number): Promise<ClaimedJob[]>;
  /** Takes claimed jobs into the buffer and starts what slots allow. */
  take(jobs: ClaimedJob[]): void;
  /** Claims at `at` (epoch ms). */
  wakeAt(at: number): void;
  /** Asks for a claim shortly. */
  wake(): void;
}

/**
 * The runner's claims of kinds that declare limits, and their pacing: kinds with a `concurrency`
 * only, with permits (lib/limits/kind-permits.ts); the others with the serialized limited claim
 * (lib/limits/limited-claim.ts), after which it keeps from trying again while every due job is
 * held back (until a slot frees here, a rate window frees a start, or half a poll interval).
 */
export class LimitedClaimer {
  /** The last claims saw due jobs of limited kinds (else the next looks first, cheaply). */
  private due = true;
  /** No limited claim before this moment: the last one found every due limited job held back. */
  private heldUntil = 0;
  /** Claims in a row that found every due limited job held back (each waits twice as long). */
  private heldClaims = 0;
  /** When this instance last pruned `nest_job_groups` (see forget). */
  private forgotServedAt = 0;
  private permitsOf: KindPermits | null = null;
  /**
   * Kinds with group limits: the due jobs to try next, read apart (their order costs a look-up per
   * due job) and kept for the claims that follow, until used up, held back or a poll interval old.
   */
  private candidates: { jobs: Candidate[]; readAt: number } | null = null;
  /** The candidates' read under way, and the ids claims took meanwhile; null: none. */
  private reading: { promise: Promise<void>; taken: Set<number> } | null = null;
  /** The pacing of claims of kinds limited by their groups alone while few groups are free. */
  private readonly scarcity: ScarceGroups;

  constructor(
    private readonly store: JobStore,
    private readonly registry: JobsRegistry,
    private readonly settings: LimitedClaimerSettings,
    private readonly host: LimitedClaimerHost,
  ) {
    this.scarcity = new ScarceGroups(settings, host);
  }

  private readonly usage: PermitUsage = {
    inHand: (kind) => this.host.inUse(kind),
    running: (kind) => this.host.running(kind),
  };

  /**
   * Whether a claimed job may start now (a kind kept by permits: while this instance holds one
   * free), for LocalQueue.take; undefined (every job may) when no kind is kept by permits.
   */
  get startGate(): ((job: ClaimedJob) => boolean) | undefined {
    const permits = this.permitsOf;
    if (!permits) return undefined;
    return (job) => permits.mayStart(job.kind, this.host.running(job.kind));
  }

  /** Whether this instance runs kinds with limits. */
  get active(): boolean {
    return this.registry.limited().length > 0 || this.registry.permitted().length > 0;
  }

  /** Whether the last claims saw due jobs of limited kinds. */
  get sawDue(): boolean {
    return this.due;
  }

  /** Something is due (a look said so): the next claim does not look first. */
  mayBeDue(): void {
    this.due = true;
  }

  /** Kinds' slots freed here (their outcomes are stored): a job they held back may start. */
  freed(kinds: string[]): void {
    let limited = false;
    for (const kind of kinds) {
      const limits = this.registry.get(kind)?.limits;
      if (!limits) continue;
      limited = true;
      this.permitsOf?.freed(kind);
    }
    if (!limited) return;
    this.heldUntil = 0;
    this.host.wake();
  }

  private get permits(): KindPermits {
    this.permitsOf ??= new KindPermits(
      this.store,
      {
        owner: this.settings.owner,
        lease: this.settings.lease,
        slots: this.settings.concurrency,
        pollInterval: this.settings.pollInterval,
        queues: this.settings.queues,
      },
      this.registry.permitted(),
    );
    return this.permitsOf;
  }

  /** Claims jobs of kinds with limits, batch after batch while they come back full. */
  async claim(): Promise<void> {
    let sawDue = false;
    if (this.registry.permitted().length > 0) {
      for (;;) {
        const room = this.host.room();
        if (room <= 0) break;
        const { jobs, heldBack } = await this.permits.claim(room, this.usage, (kind, limit) =>
          this.host.claim([kind], limit, Date.now()),
        );
        if (heldBack || jobs.length > 0) sawDue = true;
        this.host.take(jobs);
        if (jobs.length < room) break;
      }
    }
    if (this.registry.limited().length > 0) sawDue = (await this.claimLocked()) || sawDue;
    this.due = sawDue;
  }

  /**
   * The serialized claim: a batch at a time, but jobs of kinds with a rate limit for free slots
   * only (a rate limit counts claims as starts). When a rate limit held jobs back, claims again
   * when it frees a start. Returns whether it saw due jobs.
   */
  private async claimLocked(): Promise<boolean> {
    // (Kinds limited by their groups' concurrency alone: see ScarceGroups.)
    const scarcity = this.registry.limited().every((kind) => groupsOnly(kind.limits))
      ? this.scarcity
      : null;
    for (;;) {
      const wanted = this.host.room();
      const room = scarcity ? scarcity.room(wanted) : wanted;
      if (room <= 0 || Date.now() < this.heldUntil) return this.due;
      const candidates = await this.candidatesFor(room);
      if (candidates?.length === 0) {
        this.due = false;
        return false;
      }
      const claimed = await this.store.claimLimited(
        {
          ...this.request(room),
          startNow: this.host.free(),
          candidates,
          spread: scarcity?.spread() ?? false,
        },
        !this.due && !candidates,
      );
      if (candidates) this.used(claimed);
      if (claimed.skipped) {
        setTimeout(() => this.host.wake(), 10 + Math.random() * 40).unref();
        return this.due;
      }
      this.due = claimed.sawDue;
      if (claimed.retryAt !== null) this.host.wakeAt(claimed.retryAt);
      const retryIn = scarcity?.after(claimed, room) ?? null;
      if (retryIn !== null) {
        this.heldUntil = Date.now() + retryIn;
        this.host.wakeAt(this.heldUntil);
      } else if (claimed.jobs.length === 0 && claimed.sawDue) {
        // Every due limited job held back: the other claims' wake-ups need not try again before
        // half a poll interval, a rate window frees a start, or a slot frees here; after each such
        // claim in a row twice as long, up to two poll intervals (with several instances, the one
        // whose claims keep finding its candidates' groups taken by the others stops reading them
        // again and again: each read is a sort of the due jobs, on the server the others need).
        const wait = Math.min(
          (this.settings.pollInterval / 2) * 2 ** this.heldClaims,
          2 * this.settings.pollInterval,
        );
        this.heldClaims = Math.min(this.heldClaims + 1, 8);
        const until = Date.now() + wait;
        this.heldUntil = Math.min(until, claimed.retryAt ?? until);
      }
      if (claimed.jobs.length > 0) this.heldClaims = 0;
      this.host.take(claimed.jobs);
      if (claimed.jobs.length < room) return claimed.sawDue;
    }
  }

  /**
   * The candidates kept for kinds with group limits, read again when fewer than `room` are left or
   * they are a poll interval old (a second with a shorter one); undefined when no kind has group
   * limits (the claim reads its own, in claim order, cheaply). The read costs a sort of the due
   * jobs: it is made ahead, while the claims use the kept ones, once fewer than three claims' worth
   * are left or half their life has passed, so that a claim seldom waits for it.
   */
  private async candidatesFor(room: number): Promise<Candidate[] | undefined> {
    const kinds = this.registry.limited();
    if (!kinds.some((kind) => kind.limits.group !== null)) return undefined;
    const kept = this.candidates;
    const age = Date.now() - (kept?.readAt ?? 0);
    const life = Math.max(this.settings.pollInterval, CANDIDATES_LIFE);
    if (kept && kept.jobs.length >= room && age < life) {
      if (kept.jobs.length < 3 * room || age >= life / 2) {
        // (A failed read ahead is read again, and its error thrown, by the claim that needs it.)
        this.readCandidates(kinds).catch(() => undefined);
      }
      return kept.jobs;
    }
    await this.readCandidates(kinds);
    return this.candidates?.jobs ?? [];
  }

  /** Reads the candidates (one read at a time): they replace the kept ones. */
  private readCandidates(kinds: Array<{ name: string; limits: KindLimits }>): Promise<void> {
    if (this.reading) return this.reading.promise;
    const reading = { promise: Promise.resolve(), taken: new Set<number>() };
    this.reading = reading;
    const now = Date.now();
    reading.promise = this.store
      .limitedCandidates({
        kinds,
        queues: this.settings.queues,
        clock: Date.now,
        ...this.forget(now),
      })
      .then((jobs) => {
        // (Claims made meanwhile took some of them.)
        const taken = reading.taken;
        this.scarcity.read(jobs);
        this.candidates = { jobs: jobs.filter((job) => !taken.has(job.id)), readAt: now };
      })
      .finally(() => {
        this.reading = null;
      });
    return reading.promise;
  }

  /** Drops the candidates a claim took or found gone; all of them when it could take none. */
  private used(claimed: LimitedClaimResult): void {
    const done = [...claimed.jobs.map((job) => job.id), ...(claimed.gone ?? [])];
    if (this.reading) for (const id of done) this.reading.taken.add(id);
    if (!this.candidates) return;
    if (claimed.jobs.length === 0) {
      this.candidates = null;
      return;
    }
    const drop = new Set(done);
    this.candidates.jobs = this.candidates.jobs.filter((job) => !drop.has(job.id));
  }

  /** One claim of up to `room` jobs due by `dueBy`, of every limited kind (runPending). */
  async claimOnce(room: number, dueBy: number): Promise<ClaimedJob[]> {
    const jobs: ClaimedJob[] = [];
    if (this.registry.permitted().length > 0) {
      const got = await this.permits.claim(room, this.usage, (kind, limit) =>
        this.host.claim([kind], limit, dueBy),
      );
      jobs.push(...got.jobs);
    }
    const left = room - jobs.length;
    const kinds = this.registry.limited();
    if (left > 0 && kinds.length > 0) {
      // With group limits, from candidates read first, as the runners claim: a claim of kinds
      // limited by their groups alone then locks the groups' rows, as theirs do, rather than the
      // kinds' (which theirs never take): `run` beside them never starts a group's job while
      // their claim of that group is under way.
      const candidates = kinds.some((kind) => kind.limits.group !== null)
        ? await this.store.limitedCandidates({
            kinds,
            queues: this.settings.queues,
            clock: Date.now,
            dueBy,
          })
        : undefined;
      const limited: LimitedClaimResult = await this.store.claimLimited(
        { ...this.request(left), startNow: left, dueBy, candidates },
        false,
      );
      jobs.push(...limited.jobs);
    }
    return jobs;
  }

  /** Renews the permits held, with the jobs' leases. */
  renew(now: number): Promise<void> {
    return this.permitsOf ? this.permitsOf.renew(now) : Promise.resolve();
  }

  /** Gives up the permits held (shutdown, once the runs are over). */
  drop(): Promise<void> {
    return this.permitsOf ? this.permitsOf.drop() : Promise.resolve();
  }

  /**
   * Once an hour, the candidate scan forgets the groups not served for a day (they count as never
   * served) before it makes the rows of its candidates' groups: a claim does not find the rows it
   * is to lock deleted by its own instance's forgetting (the claim's last step, formerly: each
   * instance's first claims, and one an hour, found none of their groups' rows and came back empty).
   */
  private forget(now: number): { forgetServedBefore?: number } {
    if (now - this.forgotServedAt < 3_600_000) return {};
    this.forgotServedAt = now;
    return { forgetServedBefore: now - 86_400_000 };
  }

  private request(limit: number): Omit<LimitedClaimRequest, 'startNow'> {
    return {
      owner: this.settings.owner,
      limit,
      lease: this.settings.lease,
      kinds: this.registry.limited(),
      queues: this.settings.queues,
      clock: Date.now,
    };
  }
}
