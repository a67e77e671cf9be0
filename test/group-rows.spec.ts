/**
 * The rows of `nest_job_groups` that claims of kinds limited by their groups' concurrency lock
 * (lib/limits/limited-claim.ts), step by step against the real tables: the candidate scan makes
 * them for its candidates, claims made from kept candidates find them, and the hourly forgetting
 * drops only the groups not served (or, never served, not seen) for a day.
 */
import type { KindLimits } from '../lib/limits/kind-limits.js';
import type { Candidate } from '../lib/limits/limited-claim.js';
import { describeBackends } from './support/backends.js';
import { closeCleaners, freshStore } from './support/fixtures.js';

const KIND = 'groups.kind';
const DAY = 86_400_000;
const kinds: Array<{ name: string; limits: KindLimits }> = [
  {
    name: KIND,
    limits: {
      concurrency: null,
      rateLimit: null,
      group: { concurrency: 1, rateLimit: null },
    },
  },
];

afterAll(closeCleaners);

describeBackends('group rows of the limited claim', (backend) => {
  const fresh = freshStore(backend, [KIND]);

  async function enqueue(groups: string[]): Promise<void> {
    const kindId = await fresh.store.kindId(KIND);
    const now = Date.now();
    await fresh.store.insertMany(
      groups.map((group, i) => ({
        kind: KIND,
        kindId,
        queue: 'default',
        data: `{"i":${i}}`,
        periodic: false,
        interval: null,
        priority: 0,
        runAt: now - 1_000,
        maxAttempts: 1,
        created: now,
        uniqueKey: null,
        schedule: null,
        group,
      })),
    );
  }

  async function groupRows(): Promise<Map<string, number>> {
    const rows: Array<{ group_key: string; last_start: unknown }> = await fresh.source.query(
      'SELECT group_key, last_start FROM nest_job_groups',
    );
    return new Map(rows.map((row) => [row.group_key, Number(row.last_start)]));
  }

  function claim(owner: string, limit: number, candidates: Candidate[]) {
    return fresh.store.claimLimited(
      {
        owner,
        limit,
        startNow: limit,
        lease: 60_000,
        kinds,
        queues: null,
        clock: Date.now,
        candidates,
      },
      false,
    );
  }

  it('forgets the groups not served for a day, keeps the rows the scan makes for its candidates, and a second claim from the kept candidates finds them', async () => {
    const now = Date.now();
    const rows = [
      ['served-2-days-ago', now - 2 * DAY],
      ['served-an-hour-ago', now - 3_600_000],
      ['never-served-made-2-days-ago', -(now - 2 * DAY)],
      ['never-served-made-an-hour-ago', -(now - 3_600_000)],
    ];
    let n = 0;
    const mark = () => (backend.name === 'postgres' ? `$${++n}` : '?');
    await fresh.source.query(
      `INSERT INTO nest_job_groups (kind, group_key, last_start) VALUES ${rows.map(() => `(${mark()}, ${mark()}, ${mark()})`).join(', ')}`,
      rows.flatMap(([group, at]) => [KIND, group, at]),
    );
    await enqueue(['a', 'b', 'c', 'd', 'e', 'f']);

    const candidates = await fresh.store.limitedCandidates({
      kinds,
      queues: null,
      clock: Date.now,
      forgetServedBefore: now - DAY,
    });
    expect(new Set(candidates.map((job) => job.group))).toEqual(
      new Set(['a', 'b', 'c', 'd', 'e', 'f']),
    );
    const made = await groupRows();
    expect(made.has('served-2-days-ago')).toBe(false);
    expect(made.has('never-served-made-2-days-ago')).toBe(false);
    expect(made.get('served-an-hour-ago')).toBe(now - 3_600_000);
    expect(made.get('never-served-made-an-hour-ago')).toBe(-(now - 3_600_000));
    for (const group of ['a', 'b', 'c', 'd', 'e', 'f']) {
      // Never served: made now, before any served group in the claims' order.
      expect(made.get(group)).toBeLessThan(0);
    }

    // Two claims from the same candidates, as a runner makes them from the ones it keeps: the
    // second finds its groups' rows (they were not forgotten by the first).
    const first = await claim('one', 2, candidates);
    expect(first.jobs.map((job) => job.group)).toHaveLength(2);
    const taken = new Set(first.jobs.map((job) => job.id));
    const second = await claim(
      'one',
      2,
      candidates.filter((job) => !taken.has(job.id)),
    );
    expect(second.jobs).toHaveLength(2);
    const served = await groupRows();
    for (const job of [...first.jobs, ...second.jobs]) {
      expect(served.get(job.group!)).toBeGreaterThanOrEqual(now);
    }
  });

  it('records a group as served again only when the scan read it served over a second ago', async () => {
    const now = Date.now();
    let n = 0;
    const mark = () => (backend.name === 'postgres' ? `$${++n}` : '?');
    const rows = [
      ['served-just-now', now - 200],
      ['served-5-s-ago', now - 5_000],
    ];
    await fresh.source.query(
      `INSERT INTO nest_job_groups (kind, group_key, last_start) VALUES ${rows.map(() => `(${mark()}, ${mark()}, ${mark()})`).join(', ')}`,
      rows.flatMap(([group, at]) => [KIND, group, at]),
    );
    await enqueue(['served-just-now', 'served-5-s-ago', 'never-served']);
    const mine = new Set(['served-just-now', 'served-5-s-ago', 'never-served']);
    // (The store is the suite's: jobs the test before left unclaimed are due too.)
    const candidates = (
      await fresh.store.limitedCandidates({ kinds, queues: null, clock: Date.now })
    ).filter((job) => mine.has(job.group!));
    expect(Object.fromEntries(candidates.map((job) => [job.group, job.served]))).toEqual({
      'served-just-now': now - 200,
      'served-5-s-ago': now - 5_000,
      // (Its row is made after the scan read the groups: none yet.)
      'never-served': null,
    });
    const claimed = await claim('one', 10, candidates);
    expect(claimed.jobs).toHaveLength(3);
    const served = await groupRows();
    // Within the second: the claims' order of groups does not change, and nothing is written.
    expect(served.get('served-just-now')).toBe(now - 200);
    expect(served.get('served-5-s-ago')).toBeGreaterThanOrEqual(now);
    expect(served.get('never-served')).toBeGreaterThanOrEqual(now);
  });
});
