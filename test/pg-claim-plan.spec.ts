/**
 * PostgreSQL plans a claim from the table's statistics, and a new table (or a server whose
 * autovacuum is off) has none: it then estimated a kind's due jobs at one row and sorted every due
 * job at each claim to take the first few (6-12 ms per claim of 172 among 20,000, growing with the
 * backlog; bench/RESULTS.md, fifth session). With a backlog the runner's claim is planned without
 * sorts (lib/storage/sql.ts, PreparedOptions.withoutSort): the due index gives the order.
 */
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { JobsService } from 'nestjs-typeorm-jobs';
import { JobStore } from '../lib/storage/job.store.js';
import { sqlOf } from '../lib/storage/sql.js';
import { backends, describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase, withApp } from './support/fixtures.js';

afterAll(closeCleaners);

/** The node types of a plan, depth first. */
function nodesOf(plan: { 'Node Type': string; Plans?: unknown[] }): string[] {
  return [
    plan['Node Type'],
    ...((plan.Plans ?? []) as Array<typeof plan>).flatMap((child) => nodesOf(child)),
  ];
}

describeBackends(
  'the PostgreSQL claim of a backlog',
  (backend) => {
    it('is planned without a sort on a table without statistics, and leaves the pooled connection as it was', async () => {
      const database = await freshDatabase(backend);
      await withApp({ database, jobs: { runner: false, kinds: ['plan.kind'] } }, async (app) => {
        // A backlog of delayed jobs that all come due at once.
        const jobs = app.get(JobsService);
        for (let i = 0; i < 20_000; i += 5_000) {
          await jobs.enqueueMany(
            Array.from({ length: 5_000 }, (_, n) => ({
              kind: 'plan.kind',
              data: { n: i + n },
              delay: 3_600_000,
            })),
          );
        }
        const source = app.get<DataSource>(getDataSourceToken());
        await source.query(`UPDATE nest_jobs SET run_at = $1 WHERE status = 'pending'`, [
          Date.now() - 1_000,
        ]);
        const [stats] = await source.query(
          `SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'nest_jobs'`,
        );
        expect(stats).toMatchObject({ last_analyze: null });
        const sql = sqlOf(source);
        // The claim's read, as the runner's claim makes it (lib/storage/due-ranges.ts).
        const read = app
          .get(JobStore)
          .dialect.dueIds(
            { now: Date.now(), kinds: ['plan.kind'], queues: null, priorities: [0] },
            172,
            ' FOR UPDATE SKIP LOCKED',
          );
        const planned = await sql.prepared!(
          'plan_test_without_sort',
          app.get(JobStore).dialect.prepare(`EXPLAIN (FORMAT JSON) ${read.text}`),
          read.params,
          { withoutSort: true },
        );
        const plan = (planned.rows[0] as { 'QUERY PLAN': Array<{ Plan: never }> })['QUERY PLAN'][0]
          .Plan;
        const nodes = nodesOf(plan);
        expect(nodes).not.toContain('Sort');
        expect(nodes).toContain('Index Scan');
        const inside = await sql.prepared!('plan_test_show', 'SHOW enable_sort', [], {
          withoutSort: true,
        });
        expect(inside.rows[0]).toEqual({ enable_sort: 'off' });
        // The setting was the transaction's own: every pooled connection plans as before.
        const after = await Promise.all(
          Array.from({ length: 5 }, () => source.query('SHOW enable_sort')),
        );
        expect(after.map(([row]) => row.enable_sort)).toEqual(['on', 'on', 'on', 'on', 'on']);
      });
    });
  },
  backends.filter((backend) => backend.name === 'postgres'),
);
