import {
  JOB_GROUPS_TABLE,
  JOB_KINDS_TABLE,
  JOB_STARTS_TABLE,
  JOBS_TABLE,
} from '../jobs.constants.js';
import { placeholders } from '../storage/sql.js';
import type { Statement, StatementSteps } from '../storage/statement-steps.js';
import type { ClaimedJob } from '../storage/job-rows.js';
import { longestWindow, type KindLimits, type RateLimit } from './kind-limits.js';

/**
 * The claim of kinds that declare limits, apart from the plain claim (which never sees them, so a
 * deployment without limits pays nothing). One transaction, serialized per kind across every
 * instance by a lock on the kinds' rows (SQLite: BEGIN IMMEDIATE), in which it:
 *
 *   1. locks the limited kinds' rows in `nest_job_kinds` (in name order: no deadlock between claims);
 *   2. counts their running jobs per kind and group whose lease has not run out (a killed
 *      instance's slot frees when its lease expires, without waiting for the reaper);
 *   3. counts their starts in each rate limit's window (`nest_job_starts`, a sliding window);
 *   4. reads the due candidates, leaving out kinds and groups at their limit, least recently served
 *      group first (`nest_job_groups`), round-robin across groups (ROW_NUMBER per kind and group),
 *      so one group's backlog never hides the others' nor makes them wait for it to drain;
 *   5. picks, in that order, those every limit still allows, up to the free slots;
 *   6. locks and claims them by id, records their starts and when their groups were served, and
 *      prunes starts older than any window.
 *
 * Written once as a sequence of statements (lib/storage/statement-steps.ts).
 */

export interface LimitedClaimRequest {
  owner: string;
  /**
   * Claims at most this many: free slots and room in the buffer. A job held in the buffer is
   * `running` in the table, so it counts against its concurrency limits like one that runs.
   */
  limit: number;
  /**
   * Free slots: at most this many jobs of kinds with a rate limit (a rate limit counts claims as
   * starts, so they are never claimed ahead of a slot).
   */
  startNow: number;
  lease: number;
  kinds: Array<{ name: string; limits: KindLimits }>;
  queues: string[] | null;
  /** Claims jobs due at or before this moment (default: the clock's now, read under the lock). */
  dueBy?: number;
  clock: () => number;
  /**
   * Due jobs read before the claim, outside the lock (see scanCandidates), in the order to try
   * them: the claim then reads none itself. Each is claimed only if still due when claimed.
   */
  candidates?: Candidate[];
  /**
   * Kinds limited by their groups alone: lock the groups of a random stretch of the first
   * candidates' groups (SPREAD_WINDOW times as many as usual), not the first ones, so that
   * instances holding the same candidates meet less (lib/limits/scarce-groups.ts).
   */
  spread?: boolean;
}

/** The candidate scan's request (scanCandidates). */
export interface CandidateScanRequest extends Pick<
  LimitedClaimRequest,
  'kinds' | 'queues' | 'clock' | 'dueBy'
> {
  /** Also forgets when groups not served since this moment were served (done now and then). */
  forgetServedBefore?: number;
}

/** A due job of a limited kind, as the candidate scan read it. */
export interface Candidate {
  id: number;
  kind: string;
  group: string | null;
  /** When its group was last served, as the scan read it (epoch ms; negative or null: never). */
  served?: number | null;
}

export interface LimitedClaimResult {
  jobs: ClaimedJob[];
  /** Whether any due job of these kinds was seen (none: the next claim may look first, cheaply). */
  sawDue: boolean;
  /** When a rate limit that held jobs back frees a start (epoch ms), or null. */
  retryAt: number | null;
  /** Nothing was tried: on SQLite an app transaction was open (try again shortly). */
  skipped?: boolean;
  /** Of the candidates given, those picked but no longer due (claimed elsewhere, cancelled, ...). */
  gone?: number[];
  /** Some groups this claim tried to lock were held by other claims (kinds limited by groups alone). */
  contended?: boolean;
}

/** What differs per database (supplied by the dialect). */
export interface LimitedClaimSql {
  /** The locking clause for the kinds' rows, or null where the transaction itself serializes. */
  kindLock: string | null;
  /**
   * The shared locking clause for the kinds' rows that claims locking their groups take (null:
   * SQLite): they run side by side, and never beside a claim of the same kinds under `kindLock`.
   */
  kindShareLock: string | null;
  /** The locking clause for the picked rows ('' on SQLite), where they are read before the UPDATE. */
  rowLock: string;
  /** The locking clause for groups' rows, skipping those locked ('' on SQLite: one writer). */
  groupLock: string;
  /** Inserts `count` rows (kind, group_key, last_start) of nest_job_groups unless they exist. */
  insertGroups(count: number): string;
  /** The claim's UPDATE returns the rows (PostgreSQL, SQLite); else they are read first (MySQL). */
  updateReturning: boolean;
  /** The claim's columns (see claimColumns). */
  columns: string;
  /** The due-jobs filter of the plain claim (paused queues, kinds, queues). */
  dueFilter(request: { now: number; kinds: string[]; queues: string[] | null }): {
    where: string;
    params: unknown[];
  };
  claimedJob(row: Record<string, unknown>, attemptsOffset: number): ClaimedJob;
  /** Inserts or updates `count` rows (kind, group_key, last_start) of nest_job_groups. */
  upsertServed(count: number): string;
}

export type LimitedClaimSteps = StatementSteps<LimitedClaimResult>;

const SEP = '\u0000';
/** Candidates the scan of kinds with group limits returns at most. */
const SCAN_ROWS = 4_000;
/** Jobs of one group the candidate scan returns, per job of it the group's limits let start at once. */
const KEPT_PER_GROUP = 4;
/** Groups whose rows a claim of kinds limited by group concurrency alone locks at most. */
const LOCK_GROUPS = 500;
/** A spread claim picks the groups it locks among this many times as many of the first ones. */
const SPREAD_WINDOW = 4;
/**
 * A group the candidate scan read as served this recently (ms) is not recorded as served again by
 * the claim that takes its next job: the claims' order of groups is least recently served first to
 * within this much, and a busy claim writes a row of nest_job_groups per group it took less often.
 */
const SERVED_GRAIN_MS = 1_000;
/** Due jobs that scan ranks per group, in claim order (groups at their limit left out first). */
const SCAN_WINDOW = 50_000;
const scopeOf = (kind: string, group: string | null) => `${kind}${SEP}${group ?? ''}`;

/** Counts per kind (group '') and per kind and group. */
class Tally {
  private readonly counts = new Map<string, number>();
  get(kind: string, group: string | null = null): number {
    return this.counts.get(scopeOf(kind, group)) ?? 0;
  }
  add(kind: string, group: string | null, n = 1): void {
    const key = scopeOf(kind, group);
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }
}

export function* limitedClaim(
  request: LimitedClaimRequest,
  sql: LimitedClaimSql,
): LimitedClaimSteps {
  const byName = new Map(request.kinds.map((kind) => [kind.name, kind.limits]));
  const names = [...byName.keys()].sort();
  // Kinds whose only limit is a group concurrency, with candidates read apart, lock the rows of
  // the candidates' groups instead, skipping those another claim holds: claims of different groups
  // run side by side, and a group's running jobs are counted under its own lock.
  let lockedGroups: Set<string> | null = null;
  let contended = false;
  if (request.candidates && request.kinds.every((kind) => groupsOnly(kind.limits))) {
    // An instance handling these kinds along with others claims them under the kinds' lock (the
    // `else` below): the kinds' rows held shared keep the two kinds of claim from counting a group
    // free at the same time.
    if (sql.kindShareLock) {
      yield {
        text: `SELECT id FROM ${JOB_KINDS_TABLE} WHERE name IN (${placeholders(names.length)}) ORDER BY name ${sql.kindShareLock}`,
        params: names,
      };
    }
    // (A job without a group is held by no limit of such a kind: it needs no lock.)
    const tried = tryFirst(
      request.candidates,
      Math.min(2 * request.limit, LOCK_GROUPS),
      request.spread === true,
    );
    lockedGroups = new Set();
    // (SQLite: one writer at a time, in BEGIN IMMEDIATE; the rows exist since the scan.)
    if (!sql.groupLock) for (const { kind, group } of tried) lockedGroups.add(scopeOf(kind, group));
    else if (tried.length > 0) {
      // Per kind, its groups in one IN list: one index range per kind, not one per group.
      const byKind = new Map<string, string[]>();
      for (const { kind, group } of tried) byKind.set(kind, [...(byKind.get(kind) ?? []), group]);
      const locked = yield {
        text: `SELECT kind, group_key FROM ${JOB_GROUPS_TABLE}
          WHERE ${[...byKind.values()].map((groups) => `(kind = ? AND group_key IN (${placeholders(groups.length)}))`).join(' OR ')}
          ORDER BY kind, group_key ${sql.groupLock}`,
        params: [...byKind].flatMap(([kind, groups]) => [kind, ...groups]),
      };
      for (const row of locked.rows)
        lockedGroups.add(scopeOf(String(row.kind), String(row.group_key)));
      contended = lockedGroups.size < tried.length;
    }
  } else if (sql.kindLock) {
    yield {
      text: `SELECT id FROM ${JOB_KINDS_TABLE} WHERE name IN (${placeholders(names.length)}) ORDER BY name ${sql.kindLock}`,
      params: names,
    };
  }
  const now = request.clock();
  const dueBy = request.dueBy ?? now;

  // Running: per kind (group null) and per group.
  const runningRows = yield runningStatement(names, now);
  const running = tallyRunning(runningRows.rows);

  // Starts in each window: group_key '' for the kind's own limit.
  const starts = new Tally();
  const oldest = new Map<string, number>();
  const rated = names.filter((name) => longestWindow(byName.get(name)!) > 0);
  if (rated.length > 0) {
    const clauses: string[] = [];
    const params: unknown[] = [];
    for (const name of rated) {
      const limits = byName.get(name)!;
      if (limits.rateLimit) {
        clauses.push(`(kind = ? AND group_key = '' AND at > ?)`);
        params.push(name, now - limits.rateLimit.per);
      }
      if (limits.group?.rateLimit) {
        clauses.push(`(kind = ? AND group_key <> '' AND at > ?)`);
        params.push(name, now - limits.group.rateLimit.per);
      }
    }
    const startRows = yield {
      text: `SELECT kind, group_key, COUNT(*) AS n, MIN(at) AS oldest FROM ${JOB_STARTS_TABLE}
        WHERE ${clauses.join(' OR ')} GROUP BY kind, group_key`,
      params,
    };
    for (const row of startRows.rows) {
      const group = row.group_key === '' ? null : String(row.group_key);
      starts.add(String(row.kind), group, Number(row.n));
      oldest.set(scopeOf(String(row.kind), group), Number(row.oldest));
    }
  }

  let retryAt: number | null = null;
  const later = (kind: string, group: string | null, rate: RateLimit) => {
    const first = oldest.get(scopeOf(kind, group));
    if (first === undefined) return;
    const at = first + rate.per;
    retryAt = retryAt === null ? at : Math.min(retryAt, at);
  };

  // Kinds at their kind-wide limit take no part in this claim.
  const open = names.filter((name) => {
    const limits = byName.get(name)!;
    if (limits.concurrency !== null && running.get(name) >= limits.concurrency) return false;
    if (limits.rateLimit && starts.get(name) >= limits.rateLimit.limit) {
      later(name, null, limits.rateLimit);
      return false;
    }
    return true;
  });
  if (open.length === 0) return { jobs: [], sawDue: true, retryAt, contended };

  // Groups at their own limit are left out of the candidates (so a group's backlog never hides
  // the others'); as are kinds at theirs, above.
  const blocked = new Map<string, Set<string>>();
  const block = (kind: string, group: string) => {
    const groups = blocked.get(kind) ?? new Set<string>();
    blocked.set(kind, groups.add(group));
  };
  for (const [kind, groups] of busyGroups(runningRows.rows, running, byName)) {
    for (const group of groups) block(kind, group);
  }
  for (const key of oldest.keys()) {
    const [kind, group] = key.split(SEP);
    const rate = byName.get(kind)?.group?.rateLimit;
    if (group === '' || !rate || starts.get(kind, group) < rate.limit) continue;
    later(kind, group, rate);
    block(kind, group);
  }
  const due = sql.dueFilter({ now: dueBy, kinds: open, queues: request.queues });
  let candidates: Candidate[];
  if (request.candidates) {
    candidates = request.candidates.filter(
      (job) =>
        open.includes(job.kind) &&
        !(job.group !== null && blocked.get(job.kind)?.has(job.group)) &&
        (!lockedGroups || job.group === null || lockedGroups.has(scopeOf(job.kind, job.group))),
    );
  } else {
    const scan = scanStatement({ ...request, dueBy }, sql, open, blocked, {
      perGroup: Math.min(request.limit, groupCapOf(open, byName)),
      rows: 2 * request.limit,
    });
    candidates = (yield scan).rows.map(candidateOf);
  }
  // (Candidates given but all held back: due jobs exist, as far as the claim knows.)
  if (candidates.length === 0) {
    return { jobs: [], sawDue: (request.candidates?.length ?? 0) > 0, retryAt, contended };
  }

  // Pick what every limit allows.
  const picked: Candidate[] = [];
  let startingNow = 0;
  for (const candidate of candidates) {
    const { kind, group } = candidate;
    if (picked.length >= request.limit) break;
    const limits = byName.get(kind)!;
    const startCounts = limits.rateLimit !== null || (limits.group?.rateLimit ?? null) !== null;
    if (startCounts && startingNow >= request.startNow) continue;
    if (limits.concurrency !== null && running.get(kind) >= limits.concurrency) continue;
    if (limits.rateLimit && starts.get(kind) >= limits.rateLimit.limit) {
      later(kind, null, limits.rateLimit);
      continue;
    }
    if (group !== null && limits.group) {
      const { concurrency, rateLimit } = limits.group;
      if (concurrency !== null && running.get(kind, group) >= concurrency) continue;
      if (rateLimit && starts.get(kind, group) >= rateLimit.limit) {
        later(kind, group, rateLimit);
        continue;
      }
      running.add(kind, group);
      if (rateLimit) starts.add(kind, group);
    }
    running.add(kind, null);
    if (limits.rateLimit) starts.add(kind, null);
    if (startCounts) startingNow++;
    picked.push(candidate);
  }
  if (picked.length === 0) return { jobs: [], sawDue: true, retryAt, contended };

  // Claim them (still due: a cancel, another claim or a retry's new due time may have come first):
  // one UPDATE ... RETURNING, or (MySQL) the rows locked and read, then updated.
  const ids = picked.map((job) => job.id);
  const stillDue = `id IN (${placeholders(ids.length)}) AND ${due.where}`;
  const claimStatement = (where: string) => ({
    text: `UPDATE ${JOBS_TABLE} SET status = 'running', locked_by = ?, locked_until = ?, last_run = ?,
        attempts = attempts + 1 WHERE ${where}`,
    params: [request.owner, now + request.lease, now],
  });
  let claimed: ClaimedJob[];
  if (sql.updateReturning) {
    const update = claimStatement(`${stillDue} RETURNING ${sql.columns}`);
    const rows = yield { text: update.text, params: [...update.params, ...ids, ...due.params] };
    claimed = rows.rows.map((row) => sql.claimedJob(row, 0));
  } else {
    const rows = yield {
      text: `SELECT ${sql.columns} FROM ${JOBS_TABLE} WHERE ${stillDue} ${sql.rowLock}`,
      params: [...ids, ...due.params],
    };
    claimed = rows.rows.map((row) => sql.claimedJob(row, 1));
    if (claimed.length > 0) {
      const update = claimStatement(`id IN (${placeholders(claimed.length)})`);
      yield { text: update.text, params: [...update.params, ...claimed.map((job) => job.id)] };
    }
  }
  const gone = ids.filter((id) => !claimed.some((job) => job.id === id));
  if (claimed.length === 0) return { jobs: [], sawDue: true, retryAt, gone, contended };

  // Their starts, for the rate limits; and the starts no window needs any more.
  const startRows: unknown[][] = [];
  for (const job of claimed) {
    const limits = byName.get(job.kind)!;
    if (limits.rateLimit) startRows.push([job.kind, '', now]);
    if (limits.group?.rateLimit && job.group !== null) startRows.push([job.kind, job.group, now]);
  }
  if (startRows.length > 0) {
    yield {
      text: `INSERT INTO ${JOB_STARTS_TABLE} (kind, group_key, at) VALUES ${startRows.map(() => '(?, ?, ?)').join(', ')}`,
      params: startRows.flat(),
    };
    const stale = rated.map((name) => [name, now - longestWindow(byName.get(name)!)]);
    yield {
      text: `DELETE FROM ${JOB_STARTS_TABLE} WHERE ${stale.map(() => '(kind = ? AND at <= ?)').join(' OR ')}`,
      params: stale.flat(),
    };
  }
  // When each group of a kind with group limits was last served, for the next claims' order.
  const served = new Map<string, [string, string, number]>();
  const servedWhen = new Map(picked.map((job) => [job.id, job.served ?? null]));
  for (const job of claimed) {
    const last = servedWhen.get(job.id) ?? null;
    if (last !== null && last > now - SERVED_GRAIN_MS) continue;
    if (job.group !== null && byName.get(job.kind)!.group) {
      served.set(scopeOf(job.kind, job.group), [job.kind, job.group, now]);
    }
  }
  if (served.size > 0) {
    yield { text: sql.upsertServed(served.size), params: [...served.values()].flat() };
  }
  const order = new Map(ids.map((id, i) => [id, i]));
  claimed.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  return { jobs: claimed, sawDue: true, retryAt, gone, contended };
}

function runningStatement(kinds: string[], now: number): Statement {
  return {
    text: `SELECT kind, group_key, COUNT(*) AS n FROM ${JOBS_TABLE}
      WHERE status = 'running' AND locked_until >= ? AND kind IN (${placeholders(kinds.length)})
      GROUP BY kind, group_key`,
    params: [now, ...kinds],
  };
}

function tallyRunning(rows: Array<Record<string, unknown>>): Tally {
  const running = new Tally();
  for (const row of rows) {
    const kind = String(row.kind);
    const n = Number(row.n);
    running.add(kind, null, n);
    if (row.group_key != null) running.add(kind, String(row.group_key), n);
  }
  return running;
}

/** The groups at their `group.concurrency`, per kind. */
function busyGroups(
  rows: Array<Record<string, unknown>>,
  running: Tally,
  byName: Map<string, KindLimits>,
): Map<string, Set<string>> {
  const busy = new Map<string, Set<string>>();
  for (const row of rows) {
    const kind = String(row.kind);
    const concurrency = byName.get(kind)?.group?.concurrency ?? null;
    if (row.group_key == null || concurrency === null) continue;
    const group = String(row.group_key);
    if (running.get(kind, group) >= concurrency)
      busy.set(kind, (busy.get(kind) ?? new Set()).add(group));
  }
  return busy;
}

/** Whether a kind's only limit is its groups' concurrency (claimed under its groups' row locks). */
export function groupsOnly(limits: KindLimits): boolean {
  return (
    limits.concurrency === null &&
    limits.rateLimit === null &&
    limits.group !== null &&
    limits.group.rateLimit === null
  );
}

/**
 * The groups of the first candidates, `count` at most, each once: the first ones in order, or
 * (`spread`) `count` in a row from a random place among the first SPREAD_WINDOW * `count`, wrapping.
 */
export function tryFirst(
  candidates: readonly Candidate[],
  count: number,
  spread = false,
): Array<{ kind: string; group: string }> {
  const groups = new Map<string, { kind: string; group: string }>();
  const window = spread ? SPREAD_WINDOW * count : count;
  for (const { kind, group } of candidates) {
    if (groups.size >= window) break;
    if (group !== null) groups.set(scopeOf(kind, group), { kind, group });
  }
  const first = [...groups.values()];
  if (first.length <= count) return first;
  const start = Math.floor(Math.random() * first.length);
  return Array.from({ length: count }, (_, i) => first[(start + i) % first.length]);
}

/** The most jobs of one group any of these kinds may start at once (Infinity: no group limits). */
function groupCapOf(kinds: string[], byName: Map<string, KindLimits>): number {
  let cap = 0;
  for (const name of kinds) {
    const group = byName.get(name)!.group;
    cap = Math.max(
      cap,
      group
        ? Math.min(group.concurrency ?? Infinity, group.rateLimit?.limit ?? Infinity)
        : Infinity,
    );
  }
  return cap;
}

function candidateOf(row: Record<string, unknown>): Candidate {
  return {
    id: Number(row.id),
    kind: String(row.kind),
    group: row.group_key == null ? null : String(row.group_key),
    served: row.served == null ? null : Number(row.served),
  };
}

/**
 * The read of due jobs of these kinds, in the order to try them. Without group limits, the claim
 * order is all: the first rows by the claim order's index. With them, the first SCAN_WINDOW due
 * jobs in claim order are ranked within their group (each group's first job before any group's
 * second: round-robin), at most `perGroup` of a group are kept, and those are ordered by priority,
 * rank, least recently served group first (`nest_job_groups`; never served: 0), claim order. That
 * costs a sort of the due jobs, which is why the runner reads it apart, outside the lock, and keeps
 * it for several claims (scanCandidates).
 */
function scanStatement(
  request: Pick<LimitedClaimRequest, 'queues' | 'dueBy' | 'clock'>,
  sql: LimitedClaimSql,
  open: string[],
  blocked: Map<string, Set<string>>,
  { perGroup, rows }: { perGroup: number; rows: number },
): Statement {
  const now = request.dueBy ?? request.clock();
  const due = sql.dueFilter({ now, kinds: open, queues: request.queues ?? null });
  const params = [...due.params];
  let where = due.where;
  for (const [kind, groups] of blocked) {
    if (!open.includes(kind)) continue;
    // (A job without a group is never left out: NULL IN (...) would be NULL, not false.)
    where += ` AND NOT (kind = ? AND group_key IS NOT NULL AND group_key IN (${placeholders(groups.size)}))`;
    params.push(kind, ...groups);
  }
  if (perGroup === Infinity) {
    return {
      text: `SELECT id, kind, group_key FROM ${JOBS_TABLE} WHERE ${where}
        ORDER BY priority, run_at, id LIMIT ${rows}`,
      params,
    };
  }
  return {
    text: `SELECT c.id, c.kind, c.group_key, g.last_start AS served FROM (
        SELECT w.id, w.kind, w.group_key, w.priority, w.run_at,
          ROW_NUMBER() OVER (PARTITION BY w.kind, w.group_key ORDER BY w.priority, w.run_at, w.id) AS rn
        FROM (
          SELECT id, kind, group_key, priority, run_at FROM ${JOBS_TABLE} WHERE ${where}
          ORDER BY priority, run_at, id LIMIT ${SCAN_WINDOW}
        ) w
      ) c
      LEFT JOIN ${JOB_GROUPS_TABLE} g ON g.kind = c.kind AND g.group_key = c.group_key
      WHERE c.rn <= CASE WHEN c.group_key IS NULL THEN ${rows} ELSE ${perGroup} END
      ORDER BY c.priority, c.rn, COALESCE(g.last_start, 0), c.run_at, c.id LIMIT ${rows}`,
    params,
  };
}

/**
 * The candidate scan read apart from the claim (no lock, no transaction): due jobs of these kinds
 * in the order to try them, up to SCAN_ROWS, at most KEPT_PER_GROUP times as many per group as its
 * limits let start at once, leaving out the groups running as many as their concurrency allows (else a busy group's
 * backlog, least recently served, could fill the scan). The runner keeps them for the next claims
 * (LimitedClaimer); each claim checks every limit again under the lock.
 */
export function* scanCandidates(
  request: CandidateScanRequest,
  sql: LimitedClaimSql,
): StatementSteps<Candidate[]> {
  const byName = new Map(request.kinds.map((kind) => [kind.name, kind.limits]));
  const names = [...byName.keys()];
  const runningRows = yield runningStatement(names, request.clock());
  const busy = busyGroups(runningRows.rows, tallyRunning(runningRows.rows), byName);
  // A group's next jobs too: kept, they are claimed as soon as the group has room again, without
  // another read (each claim checks the group's limits under the lock).
  const scan = yield scanStatement(request, sql, names, busy, {
    perGroup: groupCapOf(names, byName) * KEPT_PER_GROUP,
    rows: SCAN_ROWS,
  });
  const candidates = scan.rows.map(candidateOf);
  if (request.forgetServedBefore !== undefined) {
    // (A group never served, made by a scan at t, has last_start -t: it is forgotten once made
    // before that moment, never just after a scan made it for its candidates.)
    const before = request.forgetServedBefore;
    yield {
      text: `DELETE FROM ${JOB_GROUPS_TABLE} WHERE (last_start >= 0 AND last_start < ?) OR (last_start < 0 AND last_start > ?)`,
      params: [before, -before],
    };
  }
  // Claims of kinds limited by their groups' concurrency alone lock the groups' rows: make sure
  // those of these candidates exist (never served: -t, made at t; ordered before any served).
  if (request.kinds.every((kind) => groupsOnly(kind.limits))) {
    const madeAt = request.clock();
    const groups = new Map<string, unknown[]>();
    for (const { kind, group } of candidates) {
      if (group !== null) groups.set(scopeOf(kind, group), [kind, group, -madeAt]);
    }
    if (groups.size > 0) {
      yield { text: sql.insertGroups(groups.size), params: [...groups.values()].flat() };
    }
  }
  return candidates;
}
