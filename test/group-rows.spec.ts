/**
 * The rows of `nest_job_groups` that claims of kinds limited by their groups' concurrency lock
 * (lib/limits/limited-claim.ts), step by step against the real tables: the candidate scan makes
 * them for its candidates, claims made from kept candidates find them, and the hourly forgetting
 * drops only the groups not served (or, never served, not seen) for a day.
 */
import type { KindLimits } from '../lib/limits/kind-limits.js';
import type { Candidate } from '../lib/limits/limited-claim.js';
import type { JobStore } from '../lib/storage/job.store.js';
import { backends, describeBackends } from './support/backends.js';
import { closeCleaners, freshStore, waitFor } from './support/fixtures.js';

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

/** One due job of KIND per group given, in that order; returns their ids. */
async function enqueueIn(store: JobStore, groups: string[]): Promise<number[]> {
  const kindId = await store.kindId(KIND);
  const now = Date.now();
  return store.insertMany(
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

/** A runner's claim of KIND from these candidates. */
function claimIn(store: JobStore, owner: string, limit: number, candidates: Candidate[]) {
  return store.claimLimited(
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

afterAll(closeCleaners);

describeBackends('group rows of the limited claim', (backend) => {
  const fresh = freshStore(backend, [KIND]);

  const enqueue = (groups: string[]) => enqueueIn(fresh.store, groups);

  async function groupRows(): Promise<Map<string, number>> {
    const rows: Array<{ group_key: string; last_start: unknown }> = await fresh.source.query(
      'SELECT group_key, last_start FROM nest_job_groups',
    );
    return new Map(rows.map((row) => [row.group_key, Number(row.last_start)]));
  }

  const claim = (owner: string, limit: number, candidates: Candidate[]) =>
    claimIn(fresh.store, owner, limit, candidates);

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

// Instances that handle a kind limited by its groups alone along with other limited kinds claim it
// under the kinds' lock, those that handle it alone under its groups' locks: the claims of the
// second sort hold the kinds' rows shared, so the two never count a group free at the same time.
describeBackends(
  'claims under the groups locks beside claims under the kinds lock',
  (backend) => {
    const fresh = freshStore(backend, [KIND]);

    /**
     * Statements of this database waiting for a row lock. (MariaDB waits for the kind's row while
     * it plans the statement, a unique key's lookup: INNODB_TRX does not list it yet.)
     */
    async function lockWaits(): Promise<number> {
      const [row] = await fresh.source.query(
        backend.name === 'postgres'
          ? `SELECT COUNT(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`
          : `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST
             WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND COMMAND = 'Query'
               AND INFO LIKE '%nest_job_kinds%LOCK IN SHARE MODE%'`,
      );
      return Number(row.n);
    }

    it("waits for a claim of the kind made under the kind's lock, then counts the job it started", async () => {
      const [first, second] = await enqueueIn(fresh.store, ['shared', 'shared']);
      const candidates = (
        await fresh.store.limitedCandidates({ kinds, queues: null, clock: Date.now })
      ).filter((job) => job.id === second);
      expect(candidates).toHaveLength(1);
      // Another instance's claim under the kind's lock, started and not yet committed: it took the
      // group's first job.
      const other = fresh.source.createQueryRunner();
      await other.connect();
      try {
        await other.startTransaction();
        const mark = (n: number) => (backend.name === 'postgres' ? `$${n}` : '?');
        await other.query(
          `SELECT id FROM nest_job_kinds WHERE name = ${mark(1)} ${backend.name === 'postgres' ? 'FOR NO KEY UPDATE' : 'FOR UPDATE'}`,
          [KIND],
        );
        await other.query(
          `UPDATE nest_jobs SET status = 'running', locked_by = 'other', locked_until = ${mark(1)}, attempts = attempts + 1 WHERE id = ${mark(2)}`,
          [Date.now() + 60_000, first],
        );
        const claiming = claimIn(fresh.store, 'one', 1, candidates);
        await waitFor(
          async () => (await lockWaits()) > 0,
          "the groups' claim to wait for the kind's row",
          10_000,
        );
        await other.commitTransaction();
        const claimed = await claiming;
        // The group's slot is the other claim's job: its next job stays pending.
        expect(claimed.jobs).toEqual([]);
      } finally {
        if (other.isTransactionActive) await other.rollbackTransaction();
        await other.release();
      }
    });
  },
  backends.filter((backend) => backend.name !== 'sqlite'),
);
