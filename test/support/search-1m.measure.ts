/**
 * The dashboard's searches on 1,000,000 jobs (PostgreSQL and MariaDB): fills a scratch database with
 * one bulk INSERT ... SELECT, then times each search's first page and a later one (median of 5).
 * Not a suite (timings are never asserted); run it by hand:
 *
 *   JOBS_TEST_DB_PREFIX=dash JOBS_TEST_POSTGRES_URL=... JOBS_TEST_MYSQL_URL=... node \
 *     --experimental-vm-modules node_modules/jest/bin/jest.js -c test/jest.config.mjs \
 *     --testMatch '<rootDir>/test/support/search-1m.measure.ts' --testTimeout 1800000
 */
import { DataSource } from 'typeorm';
import { JobQueries, type KeysetQuery } from '../../lib/storage/job.queries.js';
import { serverBackends } from './backends.js';
import { freshDatabase, startApp } from './fixtures.js';

const ROWS = Number(process.env.SEARCH_ROWS ?? 1_000_000);
const BASE = Date.UTC(2026, 10, 1);
/** One job every 100 ms: 1,000,000 jobs span 27.8 hours. */
const STEP = 100;
const HOUR = 3_600_000;

/** Ten kinds, one of them rare (0.1%); a job in 100 failed with an error; data with a unique email. */
function fillSql(type: string): string {
  const postgres = type === 'postgres';
  const i = postgres ? 'i' : 'seq';
  const text = (sql: string) => (postgres ? `(${sql})::text` : `CAST(${sql} AS CHAR)`);
  const kind = `CASE WHEN ${i} % 1000 = 7 THEN 'rare.kind' ELSE CONCAT('kind.', ${text(`${i} % 9`)}) END`;
  const data = `CONCAT('{"to":"user', ${text(i)}, '@example.com","order":', ${text(i)}, ',"note":"thanks for your order"}')`;
  const failed = `${i} % 100 = 3`;
  const created = `${BASE} + ${i} * ${STEP}`;
  const columns =
    'kind, queue, data, status, active, periodic, failed, priority, run_at, attempts, max_attempts, created, last_run, finished_at, last_error';
  const values = `${kind}, 'default', ${postgres ? `${data}::json` : data},
    CASE WHEN ${failed} THEN 'failed' ELSE 'succeeded' END, false, false, ${failed}, 0,
    ${created}, 1, 1, ${created}, ${created} + 500, ${created} + 500 + (${i} % 7) * 60000,
    CASE WHEN ${failed} THEN CONCAT('Error: deadlock detected on order ', ${text(i)}) END`;
  return postgres
    ? `INSERT INTO nest_jobs (${columns}) SELECT ${values} FROM generate_series(1, ${ROWS}) AS i`
    : `INSERT INTO nest_jobs (${columns}) SELECT ${values} FROM seq_1_to_${ROWS}`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const searches: Array<[string, Partial<KeysetQuery>]> = [
  ['id', { id: Math.floor(ROWS / 2) }],
  ['kind (10% of jobs)', { kind: 'kind.4' }],
  ['kind (0.1% of jobs)', { kind: 'rare.kind' }],
  ['text in data, one job', { text: `user${Math.floor(ROWS / 3)}@` }],
  ['text in data, every job', { text: 'thanks for' }],
  ['text in last error (1%)', { text: 'deadlock' }],
  ['created, 1 hour, 10 h ago', { createdFrom: BASE + 10 * HOUR, createdTo: BASE + 11 * HOUR }],
  ['finished, 1 hour', { finishedFrom: BASE + 10 * HOUR, finishedTo: BASE + 11 * HOUR }],
  ['finished, 24 hours', { finishedFrom: BASE, finishedTo: BASE + 24 * HOUR }],
  [
    'text + created, 1 hour',
    { text: 'deadlock', createdFrom: BASE + 10 * HOUR, createdTo: BASE + 11 * HOUR },
  ],
];

describe.each(serverBackends.filter((backend) => !backend.skipped))(
  'search on 1,000,000 jobs',
  (backend) => {
    it(`[${backend.name}] times each search`, async () => {
      const app = await startApp({
        database: await freshDatabase(backend),
        jobs: { runner: false },
      });
      const dataSource = app.get(DataSource);
      let started = Date.now();
      await dataSource.query(fillSql(String(dataSource.options.type)));
      await dataSource.query(
        backend.name === 'postgres' ? 'ANALYZE nest_jobs' : 'ANALYZE TABLE nest_jobs',
      );
      const lines = [`${backend.name}: ${ROWS} rows filled in ${Date.now() - started} ms`];
      const queries = new JobQueries(dataSource);
      for (const [name, search] of searches) {
        const query: KeysetQuery = { order: 'newest', limit: 50, ...search };
        const time = async (q: KeysetQuery) => {
          const runs: number[] = [];
          let page = await queries.page(q);
          for (let n = 0; n < 5; n++) {
            started = performance.now();
            page = await queries.page(q);
            runs.push(performance.now() - started);
          }
          return { ms: median(runs), page };
        };
        const first = await time(query);
        const later =
          first.page.next === null ? null : await time({ ...query, after: first.page.next });
        lines.push(
          `${name.padEnd(28)} first page ${first.ms.toFixed(1).padStart(7)} ms (${first.page.jobs.length} jobs)` +
            (later
              ? `  next page ${later.ms.toFixed(1).padStart(7)} ms (${later.page.jobs.length} jobs)`
              : '  (one page)'),
        );
      }
      console.log(lines.join('\n'));
      await app.close();
    }, 1_800_000);
  },
);
