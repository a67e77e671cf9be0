/**
 * Jobs whose data is megabytes: the list and `api/jobs` carry a bounded preview cut in SQL, so a page
 * of them stays small; the job's page shows a bounded excerpt and a link to download the data whole.
 */
import { describeBackends } from './support/backends.js';
import {
  DashboardClient,
  ReportHandler,
  startDashboardApp,
  type DashboardApp,
} from './support/browser.js';
import { closeCleaners, freshDatabase } from './support/fixtures.js';

afterAll(closeCleaners);

const JOBS = 4;
/** About 2 MB of JSON each: 8 MB of data in all on one page. */
const big = (i: number) => ({ to: `user${i}@example.com`, body: `${i}`.repeat(2_000_000) });
/** Far more than the previews and markup of a few jobs, far less than one job's data. */
const PAGE_BOUND = 200_000;

describeBackends('dashboard with large job data', (backend) => {
  let dashboard: DashboardApp;
  let client: DashboardClient;
  let ids: number[];

  beforeAll(async () => {
    dashboard = await startDashboardApp({
      database: await freshDatabase(backend),
      providers: [ReportHandler],
    });
    client = new DashboardClient(dashboard.origin);
    const added = await dashboard.jobs.enqueueMany(
      Array.from({ length: JOBS }, (_, i) => ({
        kind: 'email.send',
        data: big(i),
        delay: 3_600_000,
      })),
    );
    ids = added.map((job) => job.id);
  });
  afterAll(() => dashboard?.close());

  it('keeps the list page and api/jobs small, with a preview of each job', async () => {
    const page = await client.get('/jobs');
    expect(page.status).toBe(200);
    expect(page.text.length).toBeLessThan(PAGE_BOUND);
    for (const id of ids) expect(page.text).toContain(`data-job="${id}"`);
    expect(page.text).toContain('{&quot;to&quot;:&quot;user3@example.com&quot;');

    const api = await client.get('/jobs/api/jobs');
    expect(api.status).toBe(200);
    expect(api.text.length).toBeLessThan(PAGE_BOUND);
    const listed = JSON.parse(api.text) as {
      jobs: Array<{ id: number; data?: unknown; dataPreview: string; dataTruncated: boolean }>;
    };
    expect(listed.jobs.map((job) => job.id)).toEqual([...ids].reverse());
    for (const job of listed.jobs) {
      expect(job.data).toBeUndefined();
      expect(job.dataPreview.length).toBeLessThanOrEqual(300);
      expect(job.dataPreview.startsWith('{"to":"user')).toBe(true);
      expect(job.dataTruncated).toBe(true);
    }
  });

  it('shows a bounded excerpt on the job page, and downloads the data whole', async () => {
    const id = ids[1];
    const page = await client.get(`/jobs/jobs/${id}`);
    expect(page.status).toBe(200);
    expect(page.text.length).toBeLessThan(PAGE_BOUND);
    expect(page.text).toContain('id="data-cut"');
    const link = `/jobs/jobs/${id}/data`;
    expect(page.text).toContain(`href="${link}"`);

    const download = await client.get(link);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toContain('application/json');
    expect(download.headers.get('content-disposition')).toContain('attachment');
    expect(download.headers.get('cache-control')).toBe('no-store');
    expect(JSON.parse(download.text)).toEqual(big(1));

    const stranger = new DashboardClient(dashboard.origin, {});
    expect((await stranger.get(link)).status).toBe(401);
    expect((await client.get('/jobs/jobs/999999/data')).status).toBe(404);
  });

  it('shows small data whole and pretty, with no download needed', async () => {
    const small = await dashboard.jobs.enqueue(
      'email.send',
      { to: 'small@example.com', subject: 'hi' },
      { delay: 3_600_000 },
    );
    const page = await client.get(`/jobs/jobs/${small.id}`);
    expect(page.text).toContain('&quot;to&quot;: &quot;small@example.com&quot;');
    expect(page.text).not.toContain('id="data-cut"');
    const [listed] = JSON.parse((await client.get('/jobs/api/jobs?limit=1')).text).jobs;
    expect(listed).toMatchObject({
      id: small.id,
      dataPreview: '{"to":"small@example.com","subject":"hi"}',
      dataTruncated: false,
    });
  });
});
