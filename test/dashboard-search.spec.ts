/**
 * The list's search: by id, kind, a text in the data or the last error (LIKE wildcards are the
 * user's text), created and finished time ranges; keyset-paginated, and a text or creation-time
 * search bounded per page (it says where it stopped and searches on from there).
 */
import { DataSource } from 'typeorm';
import { JobEntity } from 'nestjs-typeorm-jobs';
import { JobQueries, type KeysetQuery } from '../lib/storage/job.queries.js';
import { describeBackends } from './support/backends.js';
import {
  DashboardClient,
  ReportHandler,
  startDashboardApp,
  type DashboardApp,
} from './support/browser.js';
import { closeCleaners, freshDatabase } from './support/fixtures.js';

afterAll(closeCleaners);

const HOUR = 3_600_000;
/** Recent enough that retention keeps the rows (the jobs below are 2 to 14 hours old). */
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 14 * HOUR;

/** Job i, created i hours after T0, ended half an hour later; every third failed with an error. */
function row(i: number, data: unknown, error: string | null = null): Partial<JobEntity> {
  const at = new Date(T0 + i * HOUR);
  return {
    kind: i % 2 ? 'email.send' : 'report.build',
    queue: 'default',
    data,
    status: error ? 'failed' : 'succeeded',
    active: false,
    periodic: false,
    failed: error !== null,
    priority: 0,
    runAt: at,
    attempts: 1,
    maxAttempts: 1,
    created: at,
    lastRun: at,
    finishedAt: new Date(at.getTime() + HOUR / 2),
    lastError: error,
    logs: null,
    result: null,
  };
}

describeBackends('dashboard search', (backend) => {
  let dashboard: DashboardApp;
  let client: DashboardClient;
  let queries: JobQueries;
  let ids: number[];

  beforeAll(async () => {
    dashboard = await startDashboardApp({
      database: await freshDatabase(backend),
      providers: [ReportHandler],
    });
    client = new DashboardClient(dashboard.origin);
    const rows = Array.from({ length: 12 }, (_, i) =>
      row(
        i,
        {
          to: `user${i}@example.com`,
          note: i === 4 ? '100% off_sale!' : i === 5 ? '1000 offxsale' : 'hi',
        },
        i % 3 === 0 ? `Error: SMTP 451 for USER${i}` : null,
      ),
    );
    const dataSource = dashboard.app.get(DataSource);
    const repository = dataSource.getRepository(JobEntity);
    ids = (await repository.save(repository.create(rows))).map((job) => job.id);
    queries = new JobQueries(dataSource);
  });
  afterAll(() => dashboard?.close());

  async function search(params: string): Promise<number[]> {
    const reply = await client.get(`/jobs/api/jobs?${params}`);
    expect(reply.status).toBe(200);
    return (JSON.parse(reply.text) as { jobs: Array<{ id: number }> }).jobs.map((job) => job.id);
  }
  const newest = (...indexes: number[]) => indexes.map((i) => ids[i]).sort((a, b) => b - a);

  it('finds one job by id, and the jobs of a kind', async () => {
    expect(await search(`id=${ids[3]}`)).toEqual([ids[3]]);
    expect(await search('kind=email.send')).toEqual(newest(1, 3, 5, 7, 9, 11));
  });

  it('finds a text in the data or the last error, case-insensitively, wildcards as typed', async () => {
    expect(await search('q=user7%40example')).toEqual([ids[7]]);
    expect(await search('q=smtp%20451%20for%20user')).toEqual(newest(0, 3, 6, 9));
    // '%' and '_' are the user's characters, not LIKE's wildcards: 1000 offxsale does not match.
    expect(await search(`q=${encodeURIComponent('0% off_sale!')}`)).toEqual([ids[4]]);
    expect(await search(`q=${encodeURIComponent('%')}`)).toEqual([ids[4]]);
    expect(await search(`q=${encodeURIComponent("'; DROP TABLE nest_jobs; --")}`)).toEqual([]);
    expect(await search('q=user1&kind=email.send')).toEqual(newest(1, 11));
  });

  it('finds the jobs created or finished in a time range (UTC), and pages through them', async () => {
    const at = (i: number) => new Date(T0 + i * HOUR).toISOString().slice(0, 16);
    expect(await search(`createdFrom=${at(2)}&createdTo=${at(5)}`)).toEqual(newest(2, 3, 4));
    // Job i ended at i h 30: from 2 h 45 to 5 h 45 are those of 3, 4 and 5.
    const from = new Date(T0 + 2.75 * HOUR).toISOString();
    const to = new Date(T0 + 5.75 * HOUR).toISOString();
    expect(await search(`finishedFrom=${from}&finishedTo=${to}`)).toEqual(newest(3, 4, 5));
    expect(await search(`finishedFrom=${from}&finishedTo=${to}&order=oldest`)).toEqual(
      newest(3, 4, 5).reverse(),
    );
    const first = JSON.parse(
      (await client.get(`/jobs/api/jobs?createdFrom=${at(1)}&limit=4`)).text,
    ) as { jobs: Array<{ id: number }>; next: number };
    expect(first.jobs.map((job) => job.id)).toEqual(newest(8, 9, 10, 11));
    expect(await search(`createdFrom=${at(1)}&limit=4&after=${first.next}`)).toEqual(
      newest(4, 5, 6, 7),
    );
  });

  it('bounds each page of a text search and searches on from where it stopped', async () => {
    // Windows of 5 rows: the 12 jobs are searched in three pages, whatever each finds.
    const query: KeysetQuery = { order: 'newest', limit: 50, text: 'smtp', scanRows: 5 };
    const first = await queries.page(query);
    expect(first.jobs.map((job) => job.id)).toEqual(newest(9));
    expect(first.scan).toEqual({ from: null, to: ids[7], more: true });
    expect(first.next).toBe(ids[7]);
    const second = await queries.page({ ...query, after: first.next! });
    expect(second.jobs.map((job) => job.id)).toEqual(newest(3, 6));
    expect(second.scan).toEqual({ from: ids[7], to: ids[2], more: true });
    const third = await queries.page({ ...query, after: second.next! });
    expect(third.jobs.map((job) => job.id)).toEqual(newest(0));
    expect(third.scan).toMatchObject({ more: false });
    expect(third.next).toBeNull();
    // And back: the page before the third one is the second one's window.
    const back = await queries.page({ ...query, before: third.previous! });
    expect(back.jobs.map((job) => job.id)).toEqual(newest(3, 6));
  });

  it('shows the search form, the search and where it stopped on the page; bad input is a 400', async () => {
    const page = await client.get(
      `/jobs?q=${encodeURIComponent('<b>x</b>')}&createdFrom=${new Date(T0).toISOString().slice(0, 16)}`,
    );
    expect(page.status).toBe(200);
    expect(page.text).toContain('value="&lt;b&gt;x&lt;/b&gt;"');
    expect(page.text).toContain(`value="${new Date(T0).toISOString().slice(0, 19)}"`);
    expect(page.text).toContain('data-scan');
    expect(page.text).not.toContain('<b>x</b>');
    for (const bad of [
      'createdFrom=yesterday',
      'finishedTo=2026-13-45T99:00',
      'id=abc',
      `q=${'x'.repeat(201)}`,
    ]) {
      expect((await client.get(`/jobs/api/jobs?${bad}`)).status).toBe(400);
    }
  });
});
