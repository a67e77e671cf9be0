/**
 * Claims among many jobs not yet due (lib/storage/due-ranges.ts): 20,000 jobs delayed by an hour
 * and 1,000 waiting on dependencies sit in the due index before and among the due ones. The claim
 * still takes every due job of any priority, in claim order, and reads the index by ranges that end
 * at the first job not yet due: measured per backend by what the database itself reports (pages
 * read on PostgreSQL, index rows read on MariaDB, the plan's ranges on SQLite), against the one
 * range the claim read before.
 */
import { WAITING_RUN_AT } from '../lib/jobs.constants.js';
import type { NewJobRow } from '../lib/storage/job-rows.js';
import { sqlOf } from '../lib/storage/sql.js';
import { describeBackends } from './support/backends.js';
import { closeCleaners, freshStore } from './support/fixtures.js';

const KIND = 'ranges.kind';
const DELAYED = 20_000;
const WAITING = 1_000;

afterAll(closeCleaners);

describeBackends('claims among jobs not yet due', (backend) => {
  const fresh = freshStore(backend, [KIND]);
  let kindId = 0;

  function row(priority: number, runAt: number): NewJobRow {
    return {
      kind: KIND,
      kindId,
      queue: 'default',
      data: '{}',
      periodic: false,
      interval: null,
      priority,
      runAt,
      maxAttempts: 1,
      created: Date.now(),
      uniqueKey: null,
      schedule: null,
    };
  }

  beforeAll(async () => {
    kindId = (await fresh.store.kindId(KIND))!;
    const later = Date.now() + 3_600_000;
    for (let i = 0; i < DELAYED; i += 5_000) {
      await fresh.store.insertMany(Array.from({ length: 5_000 }, (_, n) => row(0, later + i + n)));
    }
    await fresh.store.insertMany(Array.from({ length: WAITING }, () => row(0, WAITING_RUN_AT)));
  });

  const request = (priorities?: number[]) => ({
    now: Date.now(),
    kinds: [KIND],
    queues: null,
    priorities,
  });

  it('claims every due job whatever its priority, in claim order, and none of those not yet due', async () => {
    const due = [7, 0, -3, 5, 0, 2, 5];
    const past = Date.now() - 10_000;
    const ids = await fresh.store.insertMany(due.map((priority, i) => row(priority, past + i)));
    const expected = ids
      .map((id, i) => ({ id, priority: due[i], runAt: past + i }))
      .sort((a, b) => a.priority - b.priority || a.runAt - b.runAt)
      .map((job) => job.id);

    // Usual priorities 0 and 5: -3, 2 and 7 fall in the ranges between them.
    expect(await fresh.store.anyDue(request([0, 5]))).toBe(true);
    const first = await fresh.store.claim({
      ...request([0, 5]),
      owner: 'a',
      limit: 4,
      leaseUntil: Date.now() + 60_000,
    });
    expect(first.map((job) => job.id)).toEqual(expected.slice(0, 4));
    const rest = await fresh.store.claim({
      ...request(),
      owner: 'a',
      limit: 100,
      leaseUntil: Date.now() + 60_000,
    });
    expect(rest.map((job) => job.id)).toEqual(expected.slice(4));
    expect(await fresh.store.anyDue(request([0, 5]))).toBe(false);
    const none = await fresh.store.claim({
      ...request([0]),
      owner: 'a',
      limit: 100,
      leaseUntil: Date.now() + 60_000,
    });
    expect(none).toEqual([]);
  });

  it('reads only the due entries of the index, not the jobs not yet due', async () => {
    const ranged = fresh.store.dialect.dueIds(request([0]), 10);
    // The claim's read before: one range over every pending entry, `run_at <= now` a filter in it.
    const single = {
      text: `SELECT id FROM nest_jobs WHERE status = 'pending' AND run_at <= ? AND kind IN (?)
        ORDER BY priority, run_at, id LIMIT 10`,
      params: [Date.now(), KIND],
    };
    const sql = sqlOf(fresh.source);
    const prepare = (text: string) => fresh.store.dialect.prepare(text);
    if (backend.name === 'postgres') {
      // A table with row counts but no column statistics (VACUUM without ANALYZE: what a new table
      // has until autovacuum analyzes it), where the ranges between priorities were once planned
      // as a bitmap scan of every pending job of the kind.
      await sql('VACUUM nest_jobs');
      // Index and table pages the read touched, as EXPLAIN (ANALYZE, BUFFERS) counts them.
      const pages = async (read: { text: string; params: unknown[] }) => {
        const result = await sql<{ 'QUERY PLAN': unknown }>(
          prepare(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${read.text}`),
          read.params,
        );
        const plan = (result.rows[0]['QUERY PLAN'] as Array<{ Plan: Record<string, number> }>)[0]
          .Plan;
        return plan['Shared Hit Blocks'] + plan['Shared Read Blocks'];
      };
      const before = await pages(single);
      const now = await pages(ranged);
      expect(before).toBeGreaterThan(50);
      expect(now).toBeLessThan(before / 5);
    } else if (backend.name === 'mysql') {
      // Index rows read (InnoDB's Handler_read_next), on one connection.
      const runner = fresh.source.createQueryRunner();
      try {
        const rowsRead = async (read: { text: string; params: unknown[] }) => {
          const counter = async () =>
            Number((await runner.query(`SHOW SESSION STATUS LIKE 'Handler_read_next'`))[0].Value);
          const start = await counter();
          await runner.query(read.text, read.params);
          return (await counter()) - start;
        };
        expect(await rowsRead(single)).toBeGreaterThan(DELAYED);
        expect(await rowsRead(ranged)).toBeLessThan(50);
      } finally {
        await runner.release();
      }
    } else {
      // SQLite: each range of the plan is bounded by run_at where the priority is fixed, and no
      // sort: the ranges come in claim order.
      const plan = await sql<{ detail: string }>(
        `EXPLAIN QUERY PLAN ${ranged.text}`,
        ranged.params,
      );
      const details = plan.rows.map((step) => step.detail);
      expect(details.filter((detail) => /priority=\? AND run_at<\?/.test(detail))).toHaveLength(1);
      expect(details.some((detail) => /TEMP B-TREE/.test(detail))).toBe(false);
      const before = await sql<{ detail: string }>(`EXPLAIN QUERY PLAN ${single.text}`, [
        ...single.params,
      ]);
      expect(before.rows.some((step) => /priority=\?/.test(step.detail))).toBe(false);
    }
  });
});
