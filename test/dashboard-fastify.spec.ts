/**
 * The dashboard behind @nestjs/platform-fastify: the same headers, guard, CSRF-protected forms,
 * notices, JSON API, downloads and error pages as behind Express (the browser suite runs both).
 */
import { backends, describeBackends } from './support/backends.js';
import {
  authorization,
  csrfTokenOf,
  DashboardClient,
  ReportHandler,
  startDashboardApp,
  type DashboardApp,
} from './support/browser.js';
import { closeCleaners, freshDatabase, waitFor } from './support/fixtures.js';

afterAll(closeCleaners);

describeBackends(
  'dashboard behind Fastify',
  (backend) => {
    let dashboard: DashboardApp;
    let client: DashboardClient;

    beforeAll(async () => {
      dashboard = await startDashboardApp({
        database: await freshDatabase(backend),
        providers: [ReportHandler],
        adapter: 'fastify',
      });
      client = new DashboardClient(dashboard.origin);
    });
    afterAll(() => dashboard?.close());

    it('runs on Fastify, guarded, with the pages’ security headers', async () => {
      expect(dashboard.app.getHttpAdapter().getType()).toBe('fastify');
      const stranger = new DashboardClient(dashboard.origin, {});
      const refused = await stranger.get('/jobs');
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Basic realm="jobs"');
      expect(refused.headers.get('content-type')).toContain('text/html');

      const page = await client.get('/jobs');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('content-security-policy')).toMatch(/script-src 'nonce-[^']+'/);
      expect(page.headers.get('cache-control')).toBe('no-store');
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      expect(page.text).toContain('<h1>Jobs</h1>');
    });

    it('acts on a form post only with its CSRF token, then redirects with a notice', async () => {
      const job = await dashboard.jobs.enqueue(
        'email.send',
        { to: 'ada@example.com', subject: 'later' },
        { delay: 3_600_000 },
      );
      const fields = (token: string): Array<[string, string]> => [
        ['_csrf', token],
        ['action', 'cancel'],
        ['ids', String(job.id)],
        ['return', '/jobs'],
      ];
      expect((await client.postForm('/jobs/actions', fields('forged'))).status).toBe(403);
      const token = csrfTokenOf((await client.get('/jobs')).text);
      const done = await client.postForm('/jobs/actions', fields(token));
      expect(done.status).toBe(303);
      expect(done.headers.get('location')).toBe('/jobs');
      expect((await dashboard.jobs.get(job.id))?.status).toBe('cancelled');
      const after = await client.get('/jobs');
      expect(after.text).toContain(`Cancelled 1 job (#${job.id}).`);
    });

    it('answers the JSON API, downloads the data, and shows errors as pages', async () => {
      const job = await dashboard.jobs.enqueue('email.send', {
        to: 'bob@example.com',
        subject: 'hi',
      });
      await waitFor(
        async () => (await dashboard.jobs.get(job.id))?.status === 'succeeded',
        'the mail to go out',
      );
      const api = await client.get(`/jobs/api/jobs?q=bob%40example`);
      expect(api.status).toBe(200);
      expect(api.headers.get('cache-control')).toBe('no-store');
      expect(
        (JSON.parse(api.text) as { jobs: Array<{ id: number }> }).jobs.map((j) => j.id),
      ).toEqual([job.id]);
      const posted = await client.postJson('/jobs/api/jobs/actions', {
        action: 'retry',
        ids: [job.id],
      });
      expect(posted.status).toBe(200);
      const download = await client.get(`/jobs/jobs/${job.id}/data`);
      expect(download.headers.get('content-disposition')).toContain('attachment');
      expect(JSON.parse(download.text)).toEqual({ to: 'bob@example.com', subject: 'hi' });
      const missing = await client.get('/jobs/jobs/999999');
      expect(missing.status).toBe(404);
      expect(missing.text).toContain('There is no job #999999');
      expect(missing.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(
        (
          await fetch(`${dashboard.origin}/jobs/api/jobs?createdFrom=soon`, {
            headers: { authorization },
          })
        ).status,
      ).toBe(400);
    });
  },
  // The adapter is what this suite tests; the HTTP suite covers the databases.
  backends.filter((backend) => backend.name === 'sqlite'),
);
