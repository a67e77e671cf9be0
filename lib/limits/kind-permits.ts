import { JOB_KINDS_TABLE, JOB_PERMITS_TABLE } from '../jobs.constants.js';
import { placeholders } from '../storage/sql.js';
import type { ClaimedJob } from '../storage/job-rows.js';
import type { StatementSteps } from '../storage/statement-steps.js';
import type { KindLimits } from './kind-limits.js';

/**
 * A kind's cluster-wide `concurrency`, when it declares no other limit, is kept by permits: each
 * instance holds some of the kind's slots in `nest_job_permits` (a row per kind and instance, with a
 * lease), never more in all than the limit, and claims jobs of the kind with the plain claim (one
 * statement, no lock) up to the permits it holds. Only taking more permits is serialized, by the
 * lock on the kind's row in `nest_job_kinds` (SQLite: BEGIN IMMEDIATE); a busy instance keeps what
 * it holds, so with `concurrency: 50` on 4 instances each takes its share once and claims as if
 * there were no limit.
 *
 *   - An instance asks for as many permits as it has slots, at most its share: the limit over the
 *     instances with a row for the kind (rounded up), and gets what the other instances'
 *     unexpired permits leave.
 *   - It starts a job of the kind only while fewer of its handlers run than it holds permits: the
 *     handlers running at once across the cluster never exceed the limit. It claims no more than
 *     it holds permits for (running, claimed ahead, outcome not written yet: a job the limit holds
 *     back stays pending in the table), except when it holds a permit for each of its slots: then
 *     its slots bind, not the limit, and it claims ahead as for any kind.
 *   - When its claims come back short (nothing more is due), it gives back the permits it does
 *     not use within a poll interval, so other instances may take them.
 *   - Its rows are renewed with its leases (every lease / 3) and expire a renewal period after
 *     them (so they outlive every job lease taken under them): a killed instance's permits free
 *     shortly after its jobs' leases run out. A renewal that finds a row
 *     expired (the instance stalled past its lease; others may have taken the slots since) gives
 *     up every permit and asks again under the lock. Once a poll interval, a claim also reads how
 *     many instances share the limit, and one holding more than its share (and than it has in
 *     hand: a permit given back is never one in use) gives the rest back.
 *
 * Kinds with a rate limit or group limits are claimed by lib/limits/limited-claim.ts instead.
 */

/** Whether a kind's limits are kept by permits: a `concurrency` and nothing else. */
export function usesPermits(limits: KindLimits | null | undefined): boolean {
  return (
    limits != null &&
    limits.concurrency !== null &&
    limits.rateLimit === null &&
    limits.group === null
  );
}

export interface PermitRequest {
  owner: string;
  /** Per kind: its limit, and how many permits this instance wants to hold in all. */
  wants: Array<{ kind: string; limit: number; hold: number }>;
  now: number;
  /** The permits' lease: until when they are held unless renewed. */
  until: number;
}

/** What differs per database (supplied by the dialect). */
export interface PermitSql {
  /** The locking clause for the kinds' rows, or null where the transaction itself serializes. */
  kindLock: string | null;
  /** Inserts or updates `count` rows (kind, owner, permits, held_until) of nest_job_permits. */
  upsertPermits(count: number): string;
}

/**
 * The transaction that takes permits: locks the kinds' rows, reads what the other instances hold,
 * and stores what this one holds now. Returns the permits held per kind, and its share.
 */
export function* acquirePermits(
  request: PermitRequest,
  sql: PermitSql,
): StatementSteps<Map<string, { permits: number; share: number }>> {
  const kinds = request.wants.map((want) => want.kind).sort();
  const list = placeholders(kinds.length);
  if (sql.kindLock) {
    yield {
      text: `SELECT id FROM ${JOB_KINDS_TABLE} WHERE name IN (${list}) ORDER BY name ${sql.kindLock}`,
      params: kinds,
    };
  }
  const others = new Map<string, number>();
  const taken = (rows: Array<Record<string, unknown>>) => {
    for (const row of rows) {
      const kind = String(row.kind);
      others.set(kind, Math.max(others.get(kind) ?? 0, Number(row.n)));
    }
  };
  const held = yield {
    text: `SELECT kind, SUM(permits) AS n, COUNT(*) AS owners FROM ${JOB_PERMITS_TABLE}
      WHERE kind IN (${list}) AND owner <> ? AND held_until >= ? GROUP BY kind`,
    params: [...kinds, request.owner, request.now],
  };
  taken(held.rows);
  const owners = new Map(held.rows.map((row) => [String(row.kind), Number(row.owners)]));
  const granted = new Map<string, { permits: number; share: number }>();
  const rows: unknown[][] = [];
  for (const { kind, limit, hold } of request.wants) {
    const share = fairShare(limit, 1 + (owners.get(kind) ?? 0));
    const permits = Math.max(0, Math.min(hold, share, limit - (others.get(kind) ?? 0)));
    granted.set(kind, { permits, share });
    rows.push([kind, request.owner, permits, request.until]);
  }
  yield { text: sql.upsertPermits(rows.length), params: rows.flat() };
  return granted;
}

/** An instance's share of a limit among the instances that hold or want its permits. */
export function fairShare(limit: number, owners: number): number {
  return Math.max(1, Math.ceil(limit / Math.max(1, owners)));
}

/** The statements permits need besides their acquisition (JobStore). */
export interface PermitStore {
  /** Runs acquirePermits in a transaction; null when it could not run now (SQLite: an app transaction is open). */
  acquirePermits(
    request: PermitRequest,
  ): Promise<Map<string, { permits: number; share: number }> | null>;
  /** Lowers what `owner` holds of a kind (no lock: holding fewer never breaks a limit). */
  setPermits(owner: string, kind: string, permits: number): Promise<void>;
  /** Pushes back the lease of `owner`'s rows, where it has not run out; returns the rows renewed. */
  renewPermits(owner: string, now: number, until: number): Promise<number>;
  /** How many instances hold or want permits of each of these kinds (rows whose lease runs). */
  permitOwners(kinds: string[], now: number): Promise<Map<string, number>>;
  /** Forgets `owner`'s rows (of these kinds; all if none given). */
  dropPermits(owner: string, kinds?: string[]): Promise<void>;
  anyDue(request: { now: number; kinds: string[]; queues: string[] | null }): Promise<boolean>;
}

export interface PermitSettings {
  owner: string;
  lease: number;
  /** This instance's concurrency: it never asks for more permits than it can run at once. */
  slots: number;
  pollInterval: number;
  queues: string[] | null;
}

/** What the runner tells of the jobs of a kind it has. */
export interface PermitUsage {
  /** Running, claimed ahead, or with the outcome not written yet. */
  inHand(kind: string): number;
  /** Handlers running. */
  running(kind: string): number;
}

/** The permits this instance holds, and its claims and starts of the kinds they are for. */
export class KindPermits {
  /** Per kind with a row of ours: the permits it holds (0: it wants some). */
  private readonly held = new Map<string, number>();
  /** Per kind: this instance's share of the limit, as last read (unknown: the limit). */
  private readonly shares = new Map<string, number>();
  /** Kinds whose last claim came back short: look before taking permits for them again. */
  private readonly drained = new Set<string>();
  /** Kinds whose permits are all taken elsewhere: not asked for again before this moment. */
  private readonly deniedUntil = new Map<string, number>();
  private rebalancedAt = 0;
  private readonly limits: Map<string, number>;

  constructor(
    private readonly store: PermitStore,
    private readonly settings: PermitSettings,
    readonly kinds: ReadonlyArray<{ name: string; limit: number }>,
  ) {
    this.limits = new Map(kinds.map(({ name, limit }) => [name, limit]));
  }

  /** Permits held for a kind (as this instance last stored them). */
  holds(kind: string): number {
    return this.held.get(kind) ?? 0;
  }

  /**
   * Whether a job of this kind may start now, with `running` of its kind running here: fewer run
   * than it holds permits, and than its share (when others came since it took them, it lets its
   * runs fall to its share, and gives the rest back at the next rebalance).
   */
  mayStart(kind: string, running: number): boolean {
    if (!this.limits.has(kind)) return true;
    return running < Math.min(this.holds(kind), this.shares.get(kind) ?? Infinity);
  }

  /** A job of one of these kinds ended here: its slot may be used at once. */
  freed(kind: string): void {
    this.deniedUntil.delete(kind);
  }

  /**
   * Claims jobs of these kinds, up to `room` in all and, per kind, the permits held less the jobs
   * in hand (or as any kind, when it holds a permit per slot); takes more permits first (one transaction for every kind that
   * wants some). `claim` is the plain claim of one kind. Returns the jobs, and whether any of these
   * kinds had due jobs it could not take (held back by the limit).
   */
  async claim(
    room: number,
    usage: PermitUsage,
    claim: (kind: string, limit: number) => Promise<ClaimedJob[]>,
  ): Promise<{ jobs: ClaimedJob[]; heldBack: boolean }> {
    const now = Date.now();
    if (now - this.rebalancedAt >= this.settings.pollInterval) {
      this.rebalancedAt = now;
      await this.rebalance(now, usage);
    }
    await this.acquire(now);
    const jobs: ClaimedJob[] = [];
    let heldBack = false;
    for (const { name } of this.kinds) {
      // Holding a permit per slot, the slots bind, not the limit: claim ahead as for any kind.
      // Else no further than the permits: a job the limit holds back stays pending in the table.
      const held = this.holds(name);
      const free = held >= this.settings.slots ? room : held - usage.inHand(name);
      if (free <= 0) {
        if (!this.drained.has(name)) heldBack = true;
        continue;
      }
      if (room <= 0) break;
      const want = Math.min(room, free);
      const got = await claim(name, want);
      jobs.push(...got);
      room -= got.length;
      // Short: nothing more is due, or other instances took the rest first. The permits not used
      // are given back at the next rebalance if it stays so (not at once: a claim racing others
      // comes back short while plenty is due, and would take them again under the lock).
      if (got.length < want) this.drained.add(name);
      else this.drained.delete(name);
    }
    return { jobs, heldBack };
  }

  /**
   * Takes more permits for the kinds held below what this instance may run at once: its slots,
   * at most its share of the limit (the limit over the instances that hold or want its permits).
   * A busy instance holding its share asks no more (see rebalance).
   */
  private async acquire(now: number): Promise<void> {
    let wants: PermitRequest['wants'] = [];
    for (const { name, limit } of this.kinds) {
      const hold = Math.min(limit, this.shares.get(name) ?? limit, this.settings.slots);
      if (this.holds(name) >= hold) continue;
      if ((this.deniedUntil.get(name) ?? 0) > now) continue;
      wants.push({ kind: name, limit, hold: Math.min(limit, this.settings.slots) });
    }
    if (wants.length === 0) return;
    // Kinds whose last claim came back short may have nothing due: look first (no lock).
    const unsure = wants.filter((want) => this.drained.has(want.kind)).map((want) => want.kind);
    if (unsure.length > 0) {
      const due = await this.store.anyDue({ now, kinds: unsure, queues: this.settings.queues });
      if (!due) wants = wants.filter((want) => !this.drained.has(want.kind));
      else for (const kind of unsure) this.drained.delete(kind);
      if (wants.length === 0) return;
    }
    const granted = await this.store.acquirePermits({
      owner: this.settings.owner,
      wants,
      now,
      until: this.until(now),
    });
    if (!granted) return;
    for (const [kind, { permits, share }] of granted) {
      this.held.set(kind, permits);
      this.shares.set(kind, share);
      // Fewer than wanted: the others hold the rest. Ask again in half a poll interval (they give
      // back what exceeds their share within one), or when a slot frees here.
      const wanted = wants.find((want) => want.kind === kind)!.hold;
      if (permits < Math.min(wanted, share)) {
        this.deniedUntil.set(kind, now + this.settings.pollInterval / 2);
      }
    }
  }

  /**
   * When permits taken or renewed at `now` run out: a lease and a renewal period later, so they
   * outlive the lease of every job started under them (a job claimed just before the next renewal
   * holds its lease until then plus a lease): another instance never takes a permit whose run may
   * still hold its job.
   */
  private until(now: number): number {
    return now + this.settings.lease + Math.max(100, Math.floor(this.settings.lease / 3)) + 100;
  }

  /** Gives back the permits of a kind beyond `to` (held locally fewer first: no start exceeds them). */
  private async lower(kind: string, to: number): Promise<void> {
    if (this.holds(kind) <= to) return;
    this.held.set(kind, to);
    await this.store.setPermits(this.settings.owner, kind, to);
  }

  /**
   * With the jobs' leases (every lease / 3): renews this instance's rows. If one had run out,
   * others may hold its slots now: every permit is given up (taken again under the lock when
   * wanted).
   */
  async renew(now: number): Promise<void> {
    if (this.held.size === 0) return;
    const renewed = await this.store.renewPermits(this.settings.owner, now, this.until(now));
    if (renewed < this.held.size) await this.drop();
  }

  /**
   * Done by a claim at most once a poll interval. Kinds whose last claim came back short give
   * back what they have no job in hand for, and rows of kinds neither held nor wanted go; then it
   * reads how many instances share each limit, and gives back what exceeds this instance's share,
   * so an instance that came later gets its own within a poll interval. A permit a running
   * handler uses is never given back.
   */
  async rebalance(now: number, usage: PermitUsage): Promise<void> {
    for (const kind of this.drained) {
      if (this.held.has(kind)) {
        await this.lower(kind, Math.max(usage.running(kind), usage.inHand(kind)));
      }
    }
    const idle = [...this.held.keys()].filter(
      (kind) => this.holds(kind) === 0 && this.drained.has(kind),
    );
    if (idle.length > 0) {
      for (const kind of idle) this.held.delete(kind);
      await this.store.dropPermits(this.settings.owner, idle);
    }
    if (![...this.held.values()].some((permits) => permits > 0)) return;
    const owners = await this.store.permitOwners([...this.held.keys()], now);
    for (const { name, limit } of this.kinds) {
      if (!this.held.has(name)) continue;
      const share = fairShare(limit, owners.get(name) ?? 1);
      this.shares.set(name, share);
      await this.lower(name, Math.max(share, usage.running(name)));
    }
  }

  /** Gives up every permit (shutdown, or a lease that ran out). */
  async drop(): Promise<void> {
    if (this.held.size === 0) return;
    this.held.clear();
    this.shares.clear();
    await this.store.dropPermits(this.settings.owner);
  }
}
