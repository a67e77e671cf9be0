/**
 * The permits that keep a kind's cluster-wide `concurrency` (lib/limits/kind-permits.ts), step by
 * step against the real tables: what each instance gets, shares, gives back and loses. Two holders
 * stand for two instances (their own owners, one database); the claim each makes is given as a
 * function that hands back as many jobs as asked (the permits decide how many are asked for).
 * The processes suites prove the limit with real instances (limits.processes.spec.ts, and
 * test/fault/limits.fault.ts through a SIGKILL).
 */
import { KindPermits } from '../lib/limits/kind-permits.js';
import type { ClaimedJob } from '../lib/storage/job-rows.js';
import { describeBackends } from './support/backends.js';
import { closeCleaners, freshStore } from './support/fixtures.js';

const KIND = 'permits.kind';
const LIMIT = 3;

afterAll(closeCleaners);

describeBackends('kind permits', (backend) => {
  const fresh = freshStore(backend, [KIND]);

  beforeEach(async () => {
    await fresh.source.query('DELETE FROM nest_job_permits');
  });

  /**
   * An instance's permits, and its jobs of the kind: `running` handlers, and as many in hand
   * (running and claimed ahead) as its claims took.
   */
  function instance(owner: string, pollInterval = 1_000) {
    const permits = new KindPermits(
      fresh.store,
      { owner, lease: 60_000, slots: 10, pollInterval, queues: null },
      [{ name: KIND, limit: LIMIT }],
    );
    const jobs = { inHand: 0, running: 0 };
    const usage = { inHand: () => jobs.inHand, running: () => jobs.running };
    return {
      permits,
      jobs,
      /** Claims with room for 100, `available` jobs there to take; then starts what it may. */
      async claim(available = 100): Promise<number> {
        const claimed = await permits.claim(100, usage, async (_kind, limit) =>
          Array.from({ length: Math.min(limit, available) }, () => ({}) as ClaimedJob),
        );
        jobs.inHand += claimed.jobs.length;
        while (jobs.running < jobs.inHand && permits.mayStart(KIND, jobs.running)) jobs.running++;
        return claimed.jobs.length;
      },
      rebalance: () => permits.rebalance(Date.now(), usage),
      /** n handlers end (their jobs leave the hand). */
      finish(n: number) {
        jobs.running -= n;
        jobs.inHand -= n;
        permits.freed(KIND);
      },
    };
  }

  async function stored(): Promise<Record<string, number>> {
    const rows: Array<{ owner: string; permits: number | string }> = await fresh.source.query(
      'SELECT owner, permits FROM nest_job_permits',
    );
    return Object.fromEntries(rows.map((row) => [row.owner, Number(row.permits)]));
  }

  it('gives the first instance the whole limit, none to a second while it is held, and shares it once the first rebalances', async () => {
    const a = instance('a');
    const b = instance('b');
    // a holds 3 (fewer than its 10 slots): it claims 3, no further, and starts them.
    expect(await a.claim()).toBe(LIMIT);
    expect(a.jobs.running).toBe(LIMIT);
    expect(await b.claim()).toBe(0);
    expect(b.permits.mayStart(KIND, 0)).toBe(false);
    expect(await stored()).toEqual({ a: LIMIT, b: 0 });
    // b's row says it wants some, but a runs 3: it gives back none of them.
    await a.rebalance();
    expect(a.permits.holds(KIND)).toBe(LIMIT);
    // Once one ended, it gives back what exceeds its share, ceil(3 / 2) = 2, and starts no more.
    a.finish(1);
    await a.rebalance();
    expect(a.permits.holds(KIND)).toBe(2);
    expect(a.permits.mayStart(KIND, 2)).toBe(false);
    // b was told no for half a poll interval; a slot freed there lifts that.
    b.finish(0);
    await b.claim();
    expect(b.permits.holds(KIND)).toBe(1);
    expect(b.jobs.running).toBe(1);
    expect(await stored()).toEqual({ a: 2, b: 1 });
  });

  it('never lets the permits held, nor the handlers running, add up to more than the limit, whatever order the instances ask in', async () => {
    // A poll interval of 0: every claim rebalances, and a refusal holds no one back.
    const holders = ['p', 'q', 'r', 's'].map((owner) => instance(owner, 0));
    for (let round = 0; round < 6; round++) {
      for (const holder of holders) {
        await holder.claim();
        const total = Object.values(await stored()).reduce((sum, n) => sum + n, 0);
        expect(total).toBeLessThanOrEqual(LIMIT);
        const running = holders.reduce((sum, other) => sum + other.jobs.running, 0);
        expect(running).toBeLessThanOrEqual(LIMIT);
      }
      for (const holder of holders) await holder.rebalance();
      for (const holder of holders) if (holder.jobs.running > 0) holder.finish(1);
    }
    // The limit was shared: more than one instance ran jobs by the end.
    expect(holders.filter((holder) => holder.permits.holds(KIND) > 0).length).toBeGreaterThan(1);
  });

  it('gives back what it has no job in hand for at its next rebalance once a claim came back short', async () => {
    const a = instance('a');
    expect(await a.claim(1)).toBe(1);
    expect(a.permits.holds(KIND)).toBe(LIMIT);
    await a.rebalance();
    expect(a.permits.holds(KIND)).toBe(1);
    expect(await stored()).toEqual({ a: 1 });
  });

  it('gives up every permit when a renewal finds its row expired (others may hold those slots now)', async () => {
    const a = instance('a');
    await a.claim();
    expect(a.permits.holds(KIND)).toBe(LIMIT);
    await fresh.source.query('UPDATE nest_job_permits SET held_until = 0');
    await a.permits.renew(Date.now());
    expect(a.permits.holds(KIND)).toBe(0);
    expect(await stored()).toEqual({});
  });

  it('does not count permits whose lease ran out (an instance killed while it held them)', async () => {
    const dead = instance('dead');
    await dead.claim();
    const b = instance('b');
    expect(await b.claim()).toBe(0);
    await fresh.source.query(`UPDATE nest_job_permits SET held_until = 0 WHERE owner = 'dead'`);
    b.finish(0);
    await b.claim();
    expect(b.permits.holds(KIND)).toBe(LIMIT);
  });

  it('claims ahead as for any kind once it holds a permit for each of its slots (its slots bind, not the limit)', async () => {
    const wide = new KindPermits(
      fresh.store,
      { owner: 'wide', lease: 60_000, slots: 10, pollInterval: 1_000, queues: null },
      [{ name: KIND, limit: 50 }],
    );
    const usage = { inHand: () => 0, running: () => 0 };
    const claimed = await wide.claim(100, usage, async (_kind, limit) =>
      Array.from({ length: limit }, () => ({}) as ClaimedJob),
    );
    expect(wide.holds(KIND)).toBe(10);
    expect(claimed.jobs).toHaveLength(100);
    expect(wide.mayStart(KIND, 9)).toBe(true);
    expect(wide.mayStart(KIND, 10)).toBe(false);
  });

  it('lets jobs of kinds it does not keep start freely', () => {
    expect(instance('a').permits.mayStart('other.kind', 1_000)).toBe(true);
  });
});
