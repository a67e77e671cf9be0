/**
 * PostgreSQL plans a claim from the table's statistics, and a new table (or a server whose
 * autovacuum is off) has none: it then estimated a kind's due jobs at one row and sorted every due
 * job at each claim to take the first few (6-12 ms per claim of 172 among 20,000, growing with the
 * backlog; bench/RESULTS.md, fifth session). The claim reads the due index by ranges that bound
 * status, priority and run_at (lib/storage/due-ranges.ts), which PostgreSQL plans as index scans in
 * claim order without statistics: no sort, as the prepared statement the runner uses.
 */
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { JobsService } from 'nestjs-typeorm-jobs';
import { JobStore } from '../lib/storage/job.store.js';
import { sqlOf } from '../lib/storage/sql.js';
import { backends, describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase, withApp } from './support/fixtures.js';

afterAll(closeCleaners);

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

/** A plan's nodes, depth first. */
function nodesOf(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap((child) => nodesOf(child))];
}

describeBackends(
  'the PostgreSQL claim of a backlog',
  (backend) => {
    it('is planned as index scans in claim order, without a sort, on a table without statistics', async () => {
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
        const planOf = async (name: string) => {
          const planned = await sql.prepared!(
            name,
            app.get(JobStore).dialect.prepare(`EXPLAIN (FORMAT JSON) ${read.text}`),
            read.params,
          );
          return (planned.rows[0] as { 'QUERY PLAN': Array<{ Plan: PlanNode }> })['QUERY PLAN'][0]
            .Plan;
        };
        // As it comes (no statistics, no row count), and after a VACUUM without ANALYZE (a row
        // count, still no column statistics).
        for (const plan of [await planOf('plan_test_fresh'), await vacuumed()]) {
          const nodes = nodesOf(plan);
          // Only the due index is read: never a bitmap of the kind index and a sort of its rows.
          const indexes = nodes.flatMap((node) => (node['Index Name'] ? [node['Index Name']] : []));
          expect(indexes.length).toBeGreaterThan(0);
          expect(new Set(indexes)).toEqual(new Set(['idx_nest_jobs_due']));
          // The usual priority's range (where the jobs are) is an index scan in claim order.
          const usual = plan.Plans![0].Plans!.find((branch) =>
            nodesOf(branch).some((node) => node['Index Cond']?.includes('(priority = ')),
          )!;
          expect(nodesOf(usual).map((node) => node['Node Type'])).not.toContain('Sort');
          expect(nodesOf(usual).map((node) => node['Node Type'])).toContain('Index Scan');
        }
        async function vacuumed() {
          await source.query('VACUUM nest_jobs');
          return planOf('plan_test_vacuumed');
        }
      });
    });
  },
  backends.filter((backend) => backend.name === 'postgres'),
);
