/**
 * The pacing of claims of kinds limited by their groups alone while few groups are free
 * (lib/limits/scarce-groups.ts), and the groups a claim tries to lock (tryFirst in
 * lib/limits/limited-claim.ts). Plain logic over the claims' results; the cluster behaviour is in
 * limits.processes.spec.ts ("few groups") and its speed in bench/groups-spread.mjs.
 */
import type { Candidate, LimitedClaimResult } from '../lib/limits/limited-claim.js';
import { tryFirst } from '../lib/limits/limited-claim.js';
import { ScarceGroups } from '../lib/limits/scarce-groups.js';
import type { ClaimedJob } from '../lib/storage/job-rows.js';

const CONCURRENCY = 10;
const POLL = 1_000;

function candidates(groups: number, perGroup = 1): Candidate[] {
  const out: Candidate[] = [];
  let id = 0;
  for (let n = 0; n < perGroup; n++) {
    for (let g = 0; g < groups; g++) out.push({ id: ++id, kind: 'k', group: `g${g}` });
  }
  return out;
}

function result(jobs: number, extra: Partial<LimitedClaimResult> = {}): LimitedClaimResult {
  return {
    jobs: Array.from({ length: jobs }, (_, i) => ({ id: i + 1 }) as ClaimedJob),
    sawDue: true,
    retryAt: null,
    ...extra,
  };
}

/** An instance with `free` idle slots that finishes `perMs` jobs a millisecond. */
function pacing(free: number, perMs: number) {
  const host = { free: () => free, finishedIn: (ms: number) => Math.floor(perMs * ms) };
  return new ScarceGroups({ concurrency: CONCURRENCY, pollInterval: POLL }, host);
}

describe('ScarceGroups', () => {
  it('changes nothing before a read, or while the candidates hold many free groups', () => {
    for (const read of [null, candidates(8 * CONCURRENCY, 4)]) {
      const pace = pacing(3, 0.2);
      if (read) pace.read(read);
      expect(pace.scarce).toBe(false);
      expect(pace.room(500)).toBe(500);
      expect(pace.after(result(0, { contended: true }), 500)).toBeNull();
      expect(pace.spread()).toBe(false);
    }
  });

  it('with few free groups and runs that take time, claims ahead of the free slots only what finishes here in 20 ms', () => {
    const slow = pacing(3, 0.2); // runs of 50 ms on 10 slots: 4 finish in 20 ms
    slow.read(candidates(8 * CONCURRENCY - 1, 4));
    expect(slow.scarce).toBe(true);
    expect(slow.room(50)).toBe(3 + 4);
    expect(slow.room(5)).toBe(5);
    // Quick runs (400 finish in 20 ms): a job claimed ahead waits a moment; claims stay large.
    const fast = pacing(3, 20);
    fast.read(candidates(20));
    expect(fast.room(500)).toBe(500);
    // Nothing run here yet: the free slots only.
    const fresh = pacing(10, 0);
    fresh.read(candidates(20));
    expect(fresh.room(500)).toBe(10);
  });

  it('after meeting another claim, spreads the next claims for a poll interval and tries an empty one again within 40 ms, four times in a row at most', () => {
    const pace = pacing(10, 0);
    pace.read(candidates(20));
    const now = Date.now();
    expect(pace.spread(now)).toBe(false);
    for (let n = 0; n < 4; n++) {
      const retry = pace.after(result(0, { contended: true }), 10, now);
      expect(retry).toBeGreaterThanOrEqual(10);
      expect(retry).toBeLessThan(40);
    }
    expect(pace.spread(now)).toBe(true);
    expect(pace.spread(now + POLL)).toBe(false);
    // The fifth empty claim in a row falls back on the idle slots' look (slots free, runs slow).
    const fifth = pace.after(result(0, { contended: true }), 10, now);
    expect(fifth).toBeGreaterThanOrEqual(10);
    expect(fifth).toBeLessThan(30);
    // A claim that took jobs starts the count again.
    pace.after(result(2), 10, now);
    expect(pace.after(result(0, { gone: [7] }), 10, now)).toBe(0);
  });

  it('fills slots left idle within 30 ms when runs here take time, not when they are quick or no job is due', () => {
    const slow = pacing(4, 0.2);
    slow.read(candidates(20));
    const retry = slow.after(result(6), 10);
    expect(retry).toBeGreaterThanOrEqual(10);
    expect(retry).toBeLessThan(30);
    expect(slow.after(result(10), 10)).toBeNull();
    expect(slow.after(result(0, { sawDue: false }), 10)).toBeNull();
    const fast = pacing(4, 5);
    fast.read(candidates(20));
    expect(fast.after(result(6), 10)).toBeNull();
    const full = pacing(0, 0.2);
    full.read(candidates(20));
    expect(full.after(result(6), 10)).toBeNull();
  });
});

describe('tryFirst (the groups a claim locks)', () => {
  const keys = (groups: Array<{ group: string }>) => groups.map(({ group }) => group);

  it('takes the first groups in order, each once, leaving out jobs without a group', () => {
    const list: Candidate[] = [
      { id: 1, kind: 'k', group: 'a' },
      { id: 2, kind: 'k', group: null },
      { id: 3, kind: 'k', group: 'a' },
      { id: 4, kind: 'k', group: 'b' },
      { id: 5, kind: 'k', group: 'c' },
    ];
    expect(keys(tryFirst(list, 2))).toEqual(['a', 'b']);
    expect(keys(tryFirst(list, 5))).toEqual(['a', 'b', 'c']);
  });

  it('spread: takes as many groups in a row from a random place among four times as many of the first, wrapping', () => {
    const list = candidates(100, 2);
    const first = new Set<string>();
    for (let n = 0; n < 200; n++) {
      const groups = keys(tryFirst(list, 5, true));
      expect(groups).toHaveLength(5);
      const at = Number(groups[0].slice(1));
      expect(at).toBeLessThan(20);
      expect(groups).toEqual(Array.from({ length: 5 }, (_, i) => `g${(at + i) % 20}`));
      first.add(groups[0]);
    }
    // Not always the first groups (20 starting places: the same one 200 times has odds of 1 in 20^199).
    expect(first.size).toBeGreaterThan(1);
    // Fewer groups than the window: all of them.
    expect(new Set(keys(tryFirst(candidates(3), 2, true))).size).toBe(2);
  });
});
