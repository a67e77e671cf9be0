import { Injectable } from '@nestjs/common';
import { JobKind, type JobQueueInfo } from 'nestjs-typeorm-jobs';
import { describeBackends } from './support/backends.js';
import {
  csrfTokenOf,
  DashboardClient,
  startDashboardApp,
  type DashboardApp,
} from './support/browser.js';
import { closeCleaners, freshDatabase, waitFor } from './support/fixtures.js';

/** Markup, quotes and every character a URL path treats specially. */
const HOSTILE = `</td><script>alert("q'1")</script>/%?#`;

@Injectable()
class Deliveries {
  @JobKind('mail.deliver', { queue: 'mail' })
  deliver() {
    return 'delivered';
  }

  @JobKind('invoice.render')
  render() {
    return 'rendered';
  }
}

/** A kind with every limit, its name markup and quotes. */
const LIMITED = `sync</td><b>"k'1`;

@Injectable()
class Limited {
  @JobKind(LIMITED, {
    queue: 'mail',
    concurrency: 2,
    rateLimit: { limit: 5, per: '1s' },
    group: { concurrency: 1, rateLimit: { limit: 10, per: '1m' } },
  })
  sync() {
    return 'synced';
  }
}

function unescapeHtml(text: string): string {
  const entities: Record<string, string> = {
    '&amp;': '&',
    '&lt;': '<',
    '&gt;': '>',
    '&quot;': '"',
    '&#39;': "'",
    '&#96;': '`',
  };
  return text.replace(/&(?:amp|lt|gt|quot|#39|#96);/g, (entity) => entities[entity]);
}

/** The Queues page's rows by queue name, as a browser reads the names. */
function rowsOf(page: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const [, name, row] of page.matchAll(/<tr data-queue="([^"]*)">([\s\S]*?)<\/tr>/g)) {
    rows.set(unescapeHtml(name), row);
  }
  return rows;
}

/** What a row shows: paused or not, its jobs per status, and where its one button posts. */
function shown(row: string) {
  const counts = Object.fromEntries(
    [...row.matchAll(/data-jobs="(\w+)">\s*<a[^>]*>(\d+)<\/a>/g)].map(([, status, n]) => [
      status,
      Number(n),
    ]),
  );
  const state = /<td data-state>([\s\S]*?)<\/td>/.exec(row)![1];
  const action = /<form method="post" action="([^"]+)"/.exec(row)?.[1];
  const limits = /<td data-limits>([\s\S]*?)<\/td>/.exec(row)![1];
  return {
    paused: state.includes('badge paused'),
    counts,
    action: action === undefined ? undefined : unescapeHtml(action),
    /** The Limits cell's text, as a browser shows it. */
    limits: unescapeHtml(limits.replace(/<br \/>/g, ' | ').replace(/<[^>]*>/g, ''))
      .replace(/\s+/g, ' ')
      .trim(),
  };
}

afterAll(closeCleaners);

describeBackends('dashboard queues', (backend) => {
  let dashboard: DashboardApp;
  let client: DashboardClient;

  beforeEach(async () => {
    dashboard = await startDashboardApp({
      database: await freshDatabase(backend),
      providers: [Deliveries, Limited],
    });
    client = new DashboardClient(dashboard.origin);
  });

  afterEach(() => dashboard.close());

  const queue = async (name: string): Promise<JobQueueInfo | undefined> =>
    (await dashboard.jobs.queues()).find((q) => q.name === name);

  /** Clicks a row's button as a browser would: its form's action, with the page's CSRF token. */
  const click = async (name: string) => {
    const page = (await client.get('/jobs/queues')).text;
    const { action } = shown(rowsOf(page).get(name)!);
    return { action, reply: await client.postForm(action!, [['_csrf', csrfTokenOf(page)]]) };
  };

  it('lists every queue with its jobs per status and whether it is paused, escaped, and links it from every page', async () => {
    const jobs = dashboard.jobs;
    await jobs.pauseQueue(HOSTILE);
    await jobs.pauseQueue('..'); // no URL path can name it (a dot segment)
    await jobs.enqueue('mail.deliver', {}, { queue: HOSTILE });
    await jobs.enqueue('invoice.render', {}, { queue: HOSTILE });
    const sent = await jobs.enqueue('mail.deliver', {});
    await waitFor(async () => (await jobs.get(sent.id))?.status === 'succeeded', 'the mail');

    const list = await client.get('/jobs');
    expect(list.text).toMatch(/<a href="\/jobs\/queues">Queues<\/a\s*>/);
    const page = await client.get('/jobs/queues');
    expect(page.status).toBe(200);
    expect(page.text).not.toContain(`alert("q'1")`);
    expect(page.text).toContain('&lt;/td&gt;&lt;script&gt;alert(&quot;q&#39;1&quot;)');
    const rows = rowsOf(page.text);
    expect([...rows.keys()]).toEqual(['..', HOSTILE, 'mail']);
    expect(shown(rows.get('..')!)).toMatchObject({ paused: true, action: undefined });
    expect(rows.get('..')).toMatch(/<button\s+type="button"\s+disabled/);
    const zero = { pending: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, paused: 0 };
    expect(shown(rows.get(HOSTILE)!)).toEqual({
      paused: true,
      counts: { ...zero, pending: 2 },
      action: `/jobs/queues/${encodeURIComponent(HOSTILE)}/resume`,
      limits: '–',
    });
    expect(shown(rows.get('mail')!)).toEqual({
      paused: false,
      counts: { ...zero, succeeded: 1 },
      action: '/jobs/queues/mail/pause',
      limits: '–',
    });
    // Each count links to the list of that queue's jobs in that status.
    expect(rows.get(HOSTILE)).toContain(
      `href="/jobs?queue=${encodeURIComponent(HOSTILE).replace(/'/g, '&#39;')}&amp;status=pending"`,
    );

    const api = await client.get('/jobs/api/queues');
    expect(api.headers.get('cache-control')).toBe('no-store');
    // What JobsService.queues() says, and the limits of each queue's kinds (none declares any here).
    const queues = (await jobs.queues()).map((q) => ({ ...q, limits: [] }));
    expect(JSON.parse(api.text)).toEqual(JSON.parse(JSON.stringify(queues)));
  });

  it('shows, per queue, the limits of the kinds whose jobs it holds, escaped, in the table and the JSON API', async () => {
    const jobs = dashboard.jobs;
    const later = { delay: 3_600_000 };
    await jobs.enqueue(LIMITED, {}, { ...later, queue: HOSTILE, group: 'account:1' });
    await jobs.enqueue(LIMITED, {}, later); // its kind's queue, mail
    await jobs.enqueue('mail.deliver', {}, later);
    await jobs.enqueue('invoice.render', {}, later); // default: no kind there declares a limit

    const page = (await client.get('/jobs/queues')).text;
    expect(page).toContain('<th>Limits</th>');
    expect(page).not.toContain('<b>"k');
    expect(page).toContain('sync&lt;/td&gt;&lt;b&gt;&quot;k&#39;1');
    const rows = rowsOf(page);
    const described = `${LIMITED}: 2 at once, 5 per 1s; per group: 1 at once, 10 per 1m`;
    expect(shown(rows.get(HOSTILE)!).limits).toBe(described);
    expect(shown(rows.get('mail')!).limits).toBe(described);
    expect(shown(rows.get('default')!).limits).toBe('–');
    // The kind links to its jobs in that queue.
    expect(rows.get(HOSTILE)).toContain(
      `href="/jobs?queue=${encodeURIComponent(HOSTILE).replace(/'/g, '&#39;')}&amp;kind=${encodeURIComponent(LIMITED).replace(/'/g, '&#39;')}"`,
    );

    const api = JSON.parse((await client.get('/jobs/api/queues')).text) as Array<{
      name: string;
      limits: unknown;
    }>;
    const limits = [
      {
        kind: LIMITED,
        limits: {
          concurrency: 2,
          rateLimit: { limit: 5, per: 1_000 },
          group: { concurrency: 1, rateLimit: { limit: 10, per: 60_000 } },
        },
      },
    ];
    expect(Object.fromEntries(api.map((q) => [q.name, q.limits]))).toEqual({
      [HOSTILE]: limits,
      mail: limits,
      default: [],
    });
  });

  it("pauses a queue with its button (its job stays pending while another queue's job runs) and resumes it, whatever its name", async () => {
    const jobs = dashboard.jobs;
    // Listed, with a button, without a job that could run before the pause.
    await jobs.enqueue('mail.deliver', {}, { queue: HOSTILE, delay: 3_600_000 });

    const pause = await click(HOSTILE);
    expect(pause.action).toBe(`/jobs/queues/${encodeURIComponent(HOSTILE)}/pause`);
    expect([pause.reply.status, pause.reply.headers.get('location')]).toEqual([
      303,
      '/jobs/queues',
    ]);
    expect((await queue(HOSTILE))?.paused).toBe(true);
    const after = (await client.get('/jobs/queues')).text;
    expect(after).toContain('Paused queue &lt;/td&gt;&lt;script&gt;');
    expect(shown(rowsOf(after).get(HOSTILE)!)).toMatchObject({ paused: true });

    const held = await jobs.enqueue('mail.deliver', {}, { queue: HOSTILE });
    const other = await jobs.enqueue('mail.deliver', {}, { queue: 'mail' });
    await waitFor(async () => (await jobs.get(other.id))?.status === 'succeeded', 'the mail');
    expect((await jobs.get(held.id))!.status).toBe('pending');
    // Its jobs say why they wait, in the list and on their page.
    const badge = /<a\s+class="badge paused"\s+href="\/jobs\/queues"/;
    const listed = (await client.get(`/jobs?queue=${encodeURIComponent(HOSTILE)}`)).text;
    const row = new RegExp(`data-job="${held.id}"[\\s\\S]*?</tr>`).exec(listed)![0];
    expect(row).toMatch(badge);
    // ...and so does its status, the figures escaped: what `get()` says in `waiting`.
    const waiting = (await jobs.get(held.id))!.waiting!;
    expect(waiting).toEqual({
      reason: 'queue-paused',
      message: `its queue "${HOSTILE}" is paused`,
    });
    expect(row).toContain('data-waiting="queue-paused"');
    expect(row).toContain('title="waits: its queue &quot;&lt;/td&gt;&lt;script&gt;alert(');
    const detail = (await client.get(`/jobs/jobs/${held.id}`)).text;
    expect(detail).toMatch(badge);
    expect(detail).toContain('its queue &quot;&lt;/td&gt;&lt;script&gt;alert(&quot;q&#39;1&quot;)');
    expect(detail).not.toContain(`alert("q'1")`);
    expect((await client.get(`/jobs/jobs/${other.id}`)).text).not.toMatch(badge);

    const resume = await click(HOSTILE);
    expect(resume.action).toBe(`/jobs/queues/${encodeURIComponent(HOSTILE)}/resume`);
    expect(resume.reply.status).toBe(303);
    await waitFor(async () => (await jobs.get(held.id))?.status === 'succeeded', 'the held job');
    expect((await queue(HOSTILE))?.paused).toBe(false);
    expect((await client.get('/jobs/queues')).text).toContain('Resumed queue &lt;/td&gt;');
    const ran = (await client.get(`/jobs/jobs/${held.id}`)).text;
    expect(ran).not.toMatch(badge);
    expect(ran).not.toContain('data-waiting');
  });

  it('refuses a pause without the CSRF token or the guard; the JSON API pauses and resumes, refuses forms, and says when a name is no queue name', async () => {
    const token = csrfTokenOf((await client.get('/jobs/queues')).text);
    expect((await client.postForm('/jobs/queues/mail/pause', [])).status).toBe(403);
    expect((await client.postForm('/jobs/queues/mail/pause', [['_csrf', 'x']])).status).toBe(403);
    const stranger = new DashboardClient(dashboard.origin, {});
    expect((await stranger.get('/jobs/queues')).status).toBe(401);
    expect((await stranger.get('/jobs/api/queues')).status).toBe(401);
    expect((await stranger.postForm('/jobs/queues/mail/pause', [['_csrf', token]])).status).toBe(
      401,
    );
    expect((await stranger.postJson('/jobs/api/queues/mail/pause', {})).status).toBe(401);
    expect(await queue('mail')).toBeUndefined(); // nothing stored

    const pause = (name: string) => client.postJson(`/jobs/api/queues/${name}/pause`, {});
    const resume = (name: string) => client.postJson(`/jobs/api/queues/${name}/resume`, {});
    const paused = await pause('mail');
    expect([paused.status, JSON.parse(paused.text)]).toEqual([
      200,
      {
        changed: true,
        message:
          'Paused queue mail: no instance starts its jobs until it is resumed; running jobs finish.',
      },
    ]);
    expect(JSON.parse((await pause('mail')).text)).toEqual({
      changed: false,
      message: 'Queue mail was paused already.',
    });
    expect((await queue('mail'))?.paused).toBe(true);
    // A form post (no JSON type) is refused: only a page's CSRF-checked form may post a form.
    expect((await client.postForm('/jobs/api/queues/mail/resume', [])).status).toBe(403);
    expect((await queue('mail'))?.paused).toBe(true);
    expect(JSON.parse((await resume('mail')).text)).toEqual({
      changed: true,
      message: 'Resumed queue mail.',
    });
    expect(JSON.parse((await resume('mail')).text)).toMatchObject({ changed: false });

    expect(JSON.parse((await pause(encodeURIComponent(HOSTILE))).text)).toMatchObject({
      changed: true,
    });
    expect((await queue(HOSTILE))?.paused).toBe(true);

    const tooLong = await pause('q'.repeat(101));
    expect(tooLong.status).toBe(400);
    expect(JSON.parse(tooLong.text).message).toContain('a queue name of 1 to 100 characters');
    const form = await client.postForm(`/jobs/queues/${'q'.repeat(101)}/pause`, [['_csrf', token]]);
    expect(form.status).toBe(400);
    expect(form.text).toContain('a queue name of 1 to 100 characters');
  });
});
