import type { Candidate, LimitedClaimResult } from './limited-claim.js';

/** Free groups per slot of this instance under which they are scarce. */
const SCARCE_PER_SLOT = 8;
/** While groups are scarce: how much work (ms, at this instance's finish rate) is claimed ahead of free slots. */
const AHEAD_MS = 20;
/** Empty claims in a row (groups locked by other claims, or candidates gone) tried again soon. */
const QUICK_RETRIES = 4;

/** What the claimer tells of this instance's slots. */
export interface ScarceGroupsHost {
  /** Free slots. */
  free(): number;
  /** Jobs this instance finishes in `ms` at its recent rate. */
  finishedIn(ms: number): number;
}

/**
 * The pacing of claims of kinds limited by their groups' concurrency alone while few groups are
 * free: fewer than SCARCE_PER_SLOT times this instance's concurrency among the candidates last read
 * (a kind with 50 busy tenants, say, against 4 instances of 10 slots). Several instances then want
 * the same few groups, and the usual pacing (claim well ahead of free slots, try the first groups,
 * hold back after a claim that found nothing) leaves most of the cluster's slots idle: a job claimed
 * ahead waits in one instance's buffer holding its group's only slot, the instances' claims meet on
 * the same groups, and the instances they leave empty-handed hold back for up to two poll intervals
 * (bench/groups-spread.mjs). So, while groups are scarce:
 *
 *   - when runs here take time (fewer than `concurrency` finish in AHEAD_MS), jobs are claimed
 *     ahead of free slots only as many as finish here in AHEAD_MS;
 *   - after a claim met another instance's (groups locked), the next claims for a poll interval try
 *     a random window of the first candidates' groups instead of the first ones;
 *   - a claim that came back empty because its groups were locked by others or its candidates had
 *     been taken meanwhile is tried again soon, up to QUICK_RETRIES in a row, instead of holding back;
 *   - slots left idle while jobs are due, runs here taking time, are filled by a look within 30 ms,
 *     not only when a slot frees here (the groups free up on the other instances).
 *
 * With many free groups nothing changes: a claim there is better large, and instances that find
 * nothing better hold back (the no-op rows of the bench, where one instance can run everything).
 */
export class ScarceGroups {
  /** Distinct groups among the candidates last read (none read yet: not scarce). */
  private groups = Infinity;
  /** Claims try a random window of groups until then (the last ones met other claims). */
  private spreadUntil = 0;
  /** Empty claims in a row tried again soon. */
  private retries = 0;

  constructor(
    private readonly settings: { concurrency: number; pollInterval: number },
    private readonly host: ScarceGroupsHost,
  ) {}

  /** The candidates were read again. */
  read(candidates: readonly Candidate[]): void {
    const groups = new Set<string>();
    for (const { kind, group } of candidates) groups.add(`${kind}\u0000${group ?? ''}`);
    this.groups = groups.size;
  }

  /** Whether the last read found few free groups. */
  get scarce(): boolean {
    return this.groups < SCARCE_PER_SLOT * this.settings.concurrency;
  }

  /** How many to claim of `room` (free slots and room in the buffer). */
  room(room: number): number {
    if (!this.scarce) return room;
    const ahead = this.host.finishedIn(AHEAD_MS);
    // (Quick runs: a job claimed ahead waits a moment, and large claims are what they need.)
    if (ahead >= this.settings.concurrency) return room;
    return Math.min(room, this.host.free() + ahead);
  }

  /** Whether the next claim tries a random window of the candidates' groups. */
  spread(now = Date.now()): boolean {
    return this.scarce && now < this.spreadUntil;
  }

  /**
   * After a claim of up to `room` jobs: in how many ms to claim again (in place of holding back
   * after an empty claim, or of waiting for a slot to free here after a partial one), or null.
   */
  after(claimed: LimitedClaimResult, room: number, now = Date.now()): number | null {
    if (claimed.contended) this.spreadUntil = now + this.settings.pollInterval;
    if (!this.scarce) return null;
    if (claimed.jobs.length > 0) this.retries = 0;
    else if (
      this.retries < QUICK_RETRIES &&
      (claimed.contended || (claimed.gone?.length ?? 0) > 0)
    ) {
      this.retries++;
      // (Candidates gone: the next claim reads them again at once. Groups locked: let the other
      // claims commit first.)
      return claimed.contended ? 10 + Math.random() * 30 : 0;
    }
    const idle =
      claimed.jobs.length < room &&
      claimed.sawDue &&
      this.host.free() > 0 &&
      this.host.finishedIn(AHEAD_MS) < this.settings.concurrency;
    return idle ? 10 + Math.random() * 20 : null;
  }
}
