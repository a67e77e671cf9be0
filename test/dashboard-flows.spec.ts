/**
 * The dashboard's view of dependencies, flows and batches, on every backend: a job's page lists what
 * it waits on and what waits on it, a batch has a page and a JSON route, and the list filters by
 * batch; every name and value escaped. The runner is off, so nothing moves unless a test moves it.
 */
import type { AddressInfo } from 'node:net';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import { JobsDashboardModule, JobsModule, JobsService } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import { BasicAuthGuard, DashboardClient, type DashboardApp } from './support/browser.js';
import { closeCleaners, freshDatabase, quietLogger } from './support/fixtures.js';

/** A kind name and a data value that are markup. */
const HOSTILE_KIND = `part</li><script>alert("k'1")</script>`;
const HOSTILE_DATA = '</pre><script>alert(2)</script>';

/** startDashboardApp's app (support/browser.ts), with the runner off: jobs stay where a test puts them. */
async function startQuietDashboard(database: DataSourceOptions): Promise<DashboardApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({
        ...database,
        autoLoadEntities: true,
        synchronize: true,
        retryAttempts: 0,
      } as never),
      JobsModule.forRoot({
        runner: false,
        kinds: ['report.assemble', 'report.part', HOSTILE_KIND, 'mail.send', 'batch.done'],
      }),
      JobsDashboardModule.forRoot({ path: '/jobs', guard: BasicAuthGuard }),
    ],
  })
    .setLogger(quietLogger)
    .compile();
  const app = moduleRef.createNestApplication({ logger: quietLogger });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    app,
    jobs: app.get(JobsService),
    origin,
    url: `${origin}/jobs`,
    close: () => app.close(),
  };
}

interface Edge {
  id: number;
  status: string;
  /** Where its id links, or null when it does not. */
  href: string | null;
  /** The item's text, tags stripped. */
  text: string;
}

/** The items of a job page's "Waits on" (`waits-on`) or "Waited on by" (`waited-on-by`) list. */
function edgesOf(page: string, list: 'waits-on' | 'waited-on-by'): Edge[] | 'none' {
  if (new RegExp(`<p class="muted" id="${list}">None.</p>`).test(page)) return 'none';
  const body = new RegExp(`<ul class="edges" id="${list}">([\\s\\S]*?)</ul>`).exec(page);
  if (!body) throw new Error(`No list ${list} on the page`);
  return [
    ...body[1].matchAll(/<li data-edge="(\d+)" data-edge-status="(\w+)">([\s\S]*?)<\/li>/g),
  ].map(([, id, status, item]) => ({
    id: Number(id),
    status,
    href: /<a href="([^"]+)">/.exec(item)?.[1] ?? null,
    text: item
      .replace(/<[^>]*>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim(),
  }));
}

/** The ids of the rows of a list page, in order. */
function listedIds(page: string): number[] {
  return [...page.matchAll(/<tr data-job="(\d+)"/g)].map(([, id]) => Number(id));
}

/** A batch page's counts, by name. */
function batchCounts(page: string): Record<string, number> {
  return Object.fromEntries(
    [...page.matchAll(/data-batch-count="(\w+)">(\d+)</g)].map(([, name, n]) => [name, Number(n)]),
  );
}

afterAll(closeCleaners);

describeBackends('dashboard flows and batches', (backend) => {
  let dashboard: DashboardApp;
  let client: DashboardClient;

  beforeEach(async () => {
    dashboard = await startQuietDashboard(await freshDatabase(backend));
    client = new DashboardClient(dashboard.origin);
  });

  afterEach(() => dashboard.close());

  it("lists, on a job's page, what it waits on and what waits on it, linked, with kind and status, escaped", async () => {
    const jobs = dashboard.jobs;
    const flow = await jobs.enqueueFlow({
      kind: 'report.assemble',
      data: { month: '2026-11' },
      children: [
        { kind: 'report.part', data: { page: 1 } },
        { kind: HOSTILE_KIND, data: { html: HOSTILE_DATA } },
        { kind: 'report.part', data: { page: 3 } },
      ],
    });
    const parent = flow.job.id;
    const [first, hostile, third] = flow.children.map((child) => child.job.id);
    const plain = await jobs.enqueue('mail.send', {}, { delay: 60_000 });

    const page = await client.get(`/jobs/jobs/${parent}`);
    expect(page.status).toBe(200);
    expect(edgesOf(page.text, 'waits-on')).toEqual([
      {
        id: first,
        status: 'pending',
        href: `/jobs/jobs/${first}`,
        text: `#${first} report.part pending`,
      },
      {
        id: hostile,
        status: 'pending',
        href: `/jobs/jobs/${hostile}`,
        text: `#${hostile} part&lt;/li&gt;&lt;script&gt;alert(&quot;k&#39;1&quot;)&lt;/script&gt; pending`,
      },
      {
        id: third,
        status: 'pending',
        href: `/jobs/jobs/${third}`,
        text: `#${third} report.part pending`,
      },
    ]);
    expect(edgesOf(page.text, 'waited-on-by')).toBe('none');
    // Waiting on its dependencies, not on a time: the never-due run_at is not printed.
    expect(page.text).toMatch(/<dd data-deps-left>\s*3\s*<\/dd>/);
    expect(page.text).toContain('data-next-run="dependencies"');
    expect(page.text).toContain('data-waiting="dependencies"');
    expect(page.text).not.toContain('275760');
    expect(page.text).not.toContain(`alert("k'1")`);
    // ...nor in the list, where it is a row like any other.
    const list = await client.get('/jobs');
    expect(list.text).not.toContain('275760');
    expect(list.text).not.toContain(`alert("k'1")`);
    expect(list.text).not.toContain('<script>alert(2)');
    expect(new RegExp(`data-job="${parent}"[\\s\\S]*?</tr>`).exec(list.text)![0]).toContain(
      'data-next-run="dependencies"',
    );

    for (const child of [first, hostile]) {
      const childPage = (await client.get(`/jobs/jobs/${child}`)).text;
      expect(edgesOf(childPage, 'waited-on-by')).toEqual([
        {
          id: parent,
          status: 'pending',
          href: `/jobs/jobs/${parent}`,
          text: `#${parent} report.assemble pending`,
        },
      ]);
      expect(edgesOf(childPage, 'waits-on')).toBe('none');
      expect(childPage).toMatch(/<dd data-deps-left>\s*<span class="muted">–<\/span>/);
      expect(childPage).not.toContain('data-next-run="dependencies"');
      expect(childPage).not.toContain('<script>alert');
    }
    const hostilePage = (await client.get(`/jobs/jobs/${hostile}`)).text;
    expect(hostilePage).toContain('&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;');

    // A job outside any flow has neither section.
    const plainPage = (await client.get(`/jobs/jobs/${plain.id}`)).text;
    expect(plainPage).not.toContain('<h2>Waits on</h2>');
    expect(plainPage).not.toContain('<h2>Waited on by</h2>');

    // A cancelled dependency cancels its dependent; a deleted one is listed as deleted, unlinked.
    expect(await jobs.cancel(first)).toBe(true);
    const deleted = await client.postJson('/jobs/api/jobs/actions', {
      action: 'delete',
      ids: [third],
    });
    expect(JSON.parse(deleted.text)).toMatchObject({ done: [third] });
    const after = (await client.get(`/jobs/jobs/${parent}`)).text;
    expect(edgesOf(after, 'waits-on')).toEqual([
      expect.objectContaining({ id: first, status: 'cancelled', href: `/jobs/jobs/${first}` }),
      expect.objectContaining({ id: hostile, status: 'pending' }),
      expect.objectContaining({ id: third, status: 'deleted', href: null }),
    ]);
    expect((await jobs.get(parent))?.status).toBe('cancelled');
    expect(edgesOf((await client.get(`/jobs/jobs/${first}`)).text, 'waited-on-by')).toEqual([
      expect.objectContaining({ id: parent, status: 'cancelled' }),
    ]);
    expect(after).not.toContain('data-next-run="dependencies"');
    // A dependency deleted after it ended: how it ended, as its edge recorded it.
    await client.postJson('/jobs/api/jobs/actions', { action: 'delete', ids: [first] });
    expect(edgesOf((await client.get(`/jobs/jobs/${parent}`)).text, 'waits-on')).toEqual([
      { id: first, status: 'deleted', href: null, text: `#${first} deleted (it had cancelled)` },
      expect.objectContaining({ id: hostile }),
      { id: third, status: 'deleted', href: null, text: `#${third} deleted` },
    ]);
  });

  it('caps each list of a job with many dependencies and says how many more there are', async () => {
    const jobs = dashboard.jobs;
    const parts = await jobs.enqueueMany(
      Array.from({ length: 205 }, (_, i) => ({
        kind: 'report.part',
        data: { page: i },
        delay: 60_000,
      })),
    );
    const [waiting] = await jobs.enqueueMany([
      { kind: 'report.assemble', data: {}, dependsOn: parts.map((part) => part.id) },
    ]);
    const page = (await client.get(`/jobs/jobs/${waiting.id}`)).text;
    const edges = edgesOf(page, 'waits-on') as Edge[];
    expect(edges.map((edge) => edge.id)).toEqual(parts.slice(0, 200).map((part) => part.id));
    expect(page).toMatch(/<li class="muted" data-more="5">… and 5 more<\/li>/);
    expect(page).toMatch(/<dd data-deps-left>\s*205\s*<\/dd>/);
  });

  it('shows a batch: its counts, a bar of those ended, its times, its callback job and its jobs in the list', async () => {
    const jobs = dashboard.jobs;
    const other = await jobs.enqueue('mail.send', {}, { delay: 60_000 });
    const batch = await jobs.enqueueBatch(
      [
        { kind: 'mail.send', data: { to: 'a@example.com' } },
        { kind: HOSTILE_KIND, data: { html: HOSTILE_DATA } },
        { kind: 'mail.send', data: { to: 'c@example.com' } },
      ],
      { onComplete: { kind: 'batch.done' } },
    );
    const ids = batch.jobs.map((job) => job.id);
    await jobs.enqueueBatch([{ kind: 'mail.send', data: {} }]); // another batch
    expect(await jobs.cancel(ids[2])).toBe(true);

    const page = await client.get(`/jobs/batches/${batch.id}`);
    expect(page.status).toBe(200);
    expect(batchCounts(page.text)).toEqual({
      total: 3,
      pending: 2,
      running: 0,
      succeeded: 0,
      failed: 0,
      cancelled: 1,
    });
    expect(page.text).toMatch(/<progress max="3" value="1"/);
    expect(page.text).toContain('1 of 3 ended (33.3%)');
    expect(page.text).toContain('data-batch-state="open"');
    expect(page.text).toContain(`href="/jobs?batch=${batch.id}"`);
    expect(page.text).toContain(`href="/jobs?status=cancelled&amp;batch=${batch.id}"`);
    expect(page.text).toMatch(/<dt>Created<\/dt>\s*<dd><time datetime="/);

    const api = await client.get(`/jobs/api/batches/${batch.id}`);
    expect(api.status).toBe(200);
    expect(api.headers.get('cache-control')).toBe('no-store');
    expect(JSON.parse(api.text)).toEqual({
      id: batch.id,
      total: 3,
      pending: 2,
      running: 0,
      succeeded: 0,
      failed: 0,
      cancelled: 1,
      createdAt: expect.any(String),
      finishedAt: null,
      callbackJobId: null,
    });
    expect(JSON.parse(api.text)).toEqual(JSON.parse(JSON.stringify(await jobs.batch(batch.id))));

    // The list filtered by the batch lists exactly its jobs, says so, and keeps the filter.
    const list = await client.get(`/jobs?batch=${batch.id}`);
    expect(list.status).toBe(200);
    expect(listedIds(list.text)).toEqual([...ids].reverse());
    expect(list.text).toContain(`data-batch-filter="${batch.id}"`);
    expect(list.text).toContain(`<a href="/jobs/batches/${batch.id}">batch #${batch.id}</a>`);
    expect(list.text).toMatch(new RegExp(`name="batch"\\s+value="${batch.id}"`));
    expect(list.text).toContain('<span data-count="pending">2</span>');
    expect(list.text).toContain(`href="/jobs?status=pending&amp;batch=${batch.id}"`);
    expect(list.text).not.toContain('<script>alert(2)');
    expect(list.text).not.toContain(`alert("k'1")`);
    expect(listedIds((await client.get(`/jobs?batch=${batch.id}&order=oldest`)).text)).toEqual(ids);
    expect(listedIds((await client.get(`/jobs?batch=${batch.id}&status=cancelled`)).text)).toEqual([
      ids[2],
    ]);
    expect(listedIds((await client.get('/jobs')).text)).toContain(other.id);
    const filtered = JSON.parse(
      (await client.get(`/jobs/api/jobs?batch=${batch.id}&limit=2`)).text,
    );
    expect(filtered.jobs.map((job: { id: number }) => job.id)).toEqual([ids[2], ids[1]]);
    expect(filtered.counts).toMatchObject({ pending: 2, cancelled: 1, succeeded: 0 });
    const next = JSON.parse(
      (await client.get(`/jobs/api/jobs?batch=${batch.id}&limit=2&after=${filtered.next}`)).text,
    );
    expect([next.jobs.map((job: { id: number }) => job.id), next.next]).toEqual([[ids[0]], null]);
    const stats = JSON.parse((await client.get(`/jobs/api/stats?batch=${batch.id}`)).text);
    expect(stats.counts).toMatchObject({ pending: 2, cancelled: 1 });

    // A job of the batch links to it.
    const jobPage = (await client.get(`/jobs/jobs/${ids[1]}`)).text;
    expect(jobPage).toContain(`<a href="/jobs/batches/${batch.id}">batch #${batch.id}</a>`);
    expect(jobPage).not.toContain(`alert("k'1")`);
    expect(jobPage).toContain('part&lt;/li&gt;&lt;script&gt;alert(&quot;k&#39;1&quot;)');

    // Once its last job has ended: finished, the bar full, the callback job linked.
    await jobs.cancel(ids[0]);
    await jobs.cancel(ids[1]);
    const done = await jobs.batch(batch.id);
    expect(done?.finishedAt).not.toBeNull();
    const finished = (await client.get(`/jobs/batches/${batch.id}`)).text;
    expect(batchCounts(finished)).toMatchObject({ total: 3, pending: 0, cancelled: 3 });
    expect(finished).toContain('3 of 3 ended (100%)');
    expect(finished).toContain('data-batch-state="finished"');
    expect(finished).toContain(
      `<a href="/jobs/jobs/${done!.callbackJobId}">#${done!.callbackJobId}</a>`,
    );
    expect(JSON.parse((await client.get(`/jobs/api/batches/${batch.id}`)).text)).toMatchObject({
      finishedAt: done!.finishedAt!.toISOString(),
      callbackJobId: done!.callbackJobId,
    });
  });

  it('answers 404 for an unknown batch and 400 for a malformed batch id or filter, behind the guard', async () => {
    const batch = await dashboard.jobs.enqueueBatch([{ kind: 'mail.send', data: {} }]);
    for (const path of ['/jobs/batches/99999', '/jobs/api/batches/99999']) {
      const reply = await client.get(path);
      expect([path, reply.status]).toEqual([path, 404]);
      expect(reply.text).toContain('There is no batch #99999.');
    }
    // As a job's id: a number no batch can have (0, past 2^31 - 1) is a 404.
    expect((await client.get('/jobs/batches/99999999999')).status).toBe(404);
    expect((await client.get('/jobs/api/batches/0')).status).toBe(404);
    for (const path of [
      '/jobs/batches/abc',
      '/jobs/api/batches/1x',
      '/jobs?batch=abc',
      '/jobs?batch=-1',
      '/jobs?batch=1.5',
      '/jobs/api/jobs?batch=%3Cscript%3E',
      '/jobs/api/stats?batch=x',
    ]) {
      const reply = await client.get(path);
      expect([path, reply.status]).toEqual([path, 400]);
      expect(reply.text).toMatch(/batch id/);
      expect(reply.text).not.toContain('<script>');
    }
    expect((await client.get('/jobs?batch=')).status).toBe(200);
    const stranger = new DashboardClient(dashboard.origin, {});
    for (const path of [`/jobs/batches/${batch.id}`, `/jobs/api/batches/${batch.id}`]) {
      expect([path, (await stranger.get(path)).status]).toEqual([path, 401]);
    }
  });
});
