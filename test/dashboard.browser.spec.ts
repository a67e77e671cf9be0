import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type Locator,
  type Page,
} from 'playwright-core';
import { DataSource } from 'typeorm';
import { Injectable } from '@nestjs/common';
import { JobCancelledError, JobEntity, JobKind, type JobContext } from 'nestjs-typeorm-jobs';
import { backends } from './support/backends.js';
import {
  browserSkipReason,
  CHROMIUM,
  CHROMIUM_ARGS,
  DASHBOARD_PASSWORD,
  DASHBOARD_USER,
  HostileHandler,
  ImportHandler,
  ReportHandler,
  startDashboardApp,
  XSS,
  HTTP_ADAPTERS,
  type DashboardApp,
} from './support/browser.js';
import { freshDatabase, waitFor } from './support/fixtures.js';
import { LIVE_EVERY_MS } from '../lib/dashboard/dashboard.live.js';

// SQLite only: the browser is the slow part, and the HTTP suite covers every backend.
const sqlite = backends.find((backend) => backend.name === 'sqlite')!;
const skipped = browserSkipReason();
/** The pages' refresh interval here (ms): short, so a test waits little for the live script. */
const REFRESH = 250;
const suite = skipped ? describe.skip : describe;

/** Fails twice (the receiver is down), then delivers: a timeline of three attempts, for the screenshots. */
@Injectable()
class WebhookHandler {
  @JobKind('webhook.deliver', { maxAttempts: 5 })
  deliver(job: JobContext<{ url: string; event: string }>) {
    job.log(`POST ${job.data.url} (${job.data.event})`);
    if (job.attempt < 3) throw new Error(`HTTP 503 Service Unavailable from ${job.data.url}`);
    return { status: 204 };
  }
}

/** One browser for the whole file: both adapters' suites open their pages in it. */
let browser: Browser;

beforeAll(async () => {
  if (skipped) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
  });
});

afterAll(async () => {
  await browser?.close();
});

suite.each(HTTP_ADAPTERS)(
  `dashboard in chromium [sqlite] [%s]${skipped ? ` [${skipped}]` : ''}`,
  (adapter) => {
    let context: BrowserContext;
    let page: Page;
    let dashboard: DashboardApp;
    const dialogs: string[] = [];
    /** Whether dialogs are accepted (confirmations) or dismissed. */
    let acceptDialogs = false;
    /** Script errors and console errors, CSP violations included: a page must have none. */
    const problems: string[] = [];

    beforeEach(async () => {
      ReportHandler.failing = true;
      acceptDialogs = false;
      dialogs.length = 0;
      problems.length = 0;
      dashboard = await startDashboardApp({
        database: await freshDatabase(sqlite),
        providers: [ReportHandler, HostileHandler, ImportHandler],
        dashboard: { refreshInterval: REFRESH },
        adapter,
      });
      context = await browser.newContext({
        httpCredentials: { username: DASHBOARD_USER, password: DASHBOARD_PASSWORD },
        viewport: { width: 1280, height: 800 },
      });
      page = await context.newPage();
      page.on('pageerror', (error) => problems.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void (acceptDialogs ? dialog.accept() : dialog.dismiss());
      });
    });

    afterEach(async () => {
      ImportHandler.finishAll();
      expect(problems).toEqual([]);
      await context?.close();
      await dashboard?.close();
    });

    /** A handful of jobs like a real app's: mail going out, reports, a periodic cleanup, one failure. */
    async function seed(): Promise<{ failed: number }> {
      const { jobs } = dashboard;
      const mail = [];
      for (const [to, subject] of [
        ['ada@example.com', 'Your invoice for November'],
        ['grace@example.com', 'Welcome to the team'],
        ['linus@example.com', 'Password reset'],
      ]) {
        mail.push(await jobs.enqueue('email.send', { to, subject }));
      }
      await jobs.enqueue(
        'email.send',
        { to: 'ken@example.com', subject: 'Weekly digest' },
        { delay: 3_600_000 },
      );
      await jobs.enqueue(
        'report.build',
        { month: '2026-12' },
        { queue: 'reports', periodic: true, interval: 86_400_000, delay: 7_200_000 },
      );
      const failed = await jobs.enqueue('report.build', { month: '2026-10' }, { queue: 'reports' });
      await waitFor(
        async () => (await jobs.get(failed.id))?.status === 'failed',
        'the October report to fail',
      );
      for (const job of mail)
        await waitFor(
          async () => (await jobs.get(job.id))?.status === 'succeeded',
          'the mail to go out',
        );
      return { failed: failed.id };
    }

    /** The last hour's finished mail, so the chart has something to show (rows as the runner leaves them). */
    async function finishedHistory(): Promise<void> {
      const now = Date.now();
      const rows: Array<Partial<JobEntity>> = [];
      for (let minute = 59; minute >= 1; minute--) {
        const count = 3 + Math.round(4 + 4 * Math.sin(minute / 6));
        for (let n = 0; n < count; n++) {
          const at = new Date(now - minute * 60_000 + n * 1_000);
          const failed = (minute + n) % 17 === 0;
          rows.push({
            kind: 'email.send',
            queue: 'default',
            data: { to: `customer${minute}-${n}@example.com`, subject: 'Your order has shipped' },
            status: failed ? 'failed' : 'succeeded',
            active: false,
            periodic: false,
            failed,
            priority: 0,
            runAt: at,
            attempts: 1,
            maxAttempts: failed ? 1 : 5,
            created: at,
            lastRun: at,
            finishedAt: at,
            lastError: failed ? 'Error: SMTP 451 try again later' : null,
            logs: null,
            result: null,
          });
        }
      }
      const repository = dashboard.app.get(DataSource).getRepository(JobEntity);
      await repository.save(repository.create(rows), { chunk: 100 });
    }

    async function badgeOf(): Promise<string> {
      return (await page.locator('h1 .badge').textContent()) ?? '';
    }

    it('filters the list, opens a failed job, retries it and sees it succeed', async () => {
      const { failed } = await seed();
      await page.goto(dashboard.url);
      expect(await page.locator('tbody tr').count()).toBe(6);

      // The script's live counts come from the JSON API, which the page's CSP lets it reach.
      const live = await page.evaluate(
        "fetch(document.body.dataset.api + '/stats').then(async (r) => ({ status: r.status, counts: (await r.json()).counts }))",
      );
      expect(live).toEqual({
        status: 200,
        counts: { pending: 2, running: 0, succeeded: 3, failed: 1, cancelled: 0, paused: 0 },
      });

      await page.selectOption('select[name="status"]', 'failed');
      await page.click('form.filters button[type="submit"]');
      await page.waitForURL(/status=failed/);
      const rows = page.locator('tbody tr');
      expect(await rows.count()).toBe(1);
      expect(await rows.first().getAttribute('data-job')).toBe(String(failed));

      await page.click(`a[href$="/jobs/${failed}"]`);
      await page.waitForURL(new RegExp(`/jobs/jobs/${failed}$`));
      expect(await badgeOf()).toBe('failed');
      expect(await page.locator('#last-error').textContent()).toContain(
        'the ledger for 2026-10 is locked',
      );

      ReportHandler.failing = false;
      await page.click('button[value="retry"]');
      await page.waitForURL(new RegExp(`/jobs/jobs/${failed}$`));
      expect(await page.locator('.flash').textContent()).toBe(`Retried 1 job (#${failed}).`);
      await waitFor(async () => {
        await page.reload();
        return (await badgeOf()) === 'succeeded';
      }, 'the page to show the job succeeded');
      expect(await page.locator('#result').textContent()).toContain('"pages": 12');
      expect(dialogs).toEqual([]);
    });

    it('cancels the jobs selected with the select-all box', async () => {
      const { jobs } = dashboard;
      const ids = (
        await jobs.enqueueMany(
          [1, 2, 3].map((n) => ({
            kind: 'email.send',
            data: { to: `n${n}@example.com`, subject: 'later' },
            delay: 3_600_000,
          })),
        )
      ).map((job) => job.id);
      await page.goto(`${dashboard.url}?status=pending`);
      await page.check('input[data-select-all]');
      await page.click('button[value="cancel"]');
      await page.waitForSelector('.flash');
      expect(await page.locator('.flash').textContent()).toMatch(/^Cancelled 3 jobs/);
      for (const id of ids) expect((await jobs.get(id))?.status).toBe('cancelled');
    });

    it('shows a hostile payload as text: no script runs, no dialog opens', async () => {
      const job = await dashboard.jobs.enqueue(XSS, { html: XSS });
      await waitFor(
        async () => (await dashboard.jobs.get(job.id))?.status === 'failed',
        'the hostile job to fail',
      );
      for (const path of ['', `/jobs/${job.id}`, '/kinds', `?kind=${encodeURIComponent(XSS)}`]) {
        await page.goto(`${dashboard.url}${path}`);
        expect(await page.locator('script').count()).toBe(1);
        expect(await page.locator('body').innerText()).toContain(XSS);
      }
      await page.goto(`${dashboard.url}/jobs/${job.id}`);
      expect(await page.locator('#data').textContent()).toContain(XSS);
      expect(await page.locator('#logs').textContent()).toContain(XSS);
      expect(await page.locator('#last-error').textContent()).toContain(XSS);
      await page.click('button[value="retry"]');
      await page.waitForSelector('.flash');
      expect(dialogs).toEqual([]);
    });

    /** An `import.rows` job, running. */
    async function running(file: string): Promise<number> {
      const job = await dashboard.jobs.enqueue('import.rows', { file });
      await waitFor(
        async () => (await dashboard.jobs.get(job.id))?.status === 'running',
        `${file} to start`,
      );
      return job.id;
    }

    /** Has the handler report `value` with `job.progress()`, and waits until it is stored. */
    async function report(id: number, value: unknown): Promise<void> {
      ImportHandler.run(id).give({ progress: value });
      const stored = JSON.stringify(value);
      await waitFor(
        async () => JSON.stringify((await dashboard.jobs.get(id))?.progress) === stored,
        `job ${id}'s progress to be ${stored}`,
      );
    }

    /** Waits until the element's text is `text` (the page's CSP forbids waitForFunction's eval). */
    const shows = (locator: Locator, text: string) =>
      waitFor(async () => (await locator.textContent()) === text, `"${text}" on the page`);

    /** Marks the loaded document: the mark survives anything but a reload. */
    const mark = () => page.evaluate('window.__notReloaded = true');
    const marked = () => page.evaluate('window.__notReloaded === true');

    it("moves a running job's bar without reloading, and shows the outcome when the job ends", async () => {
      const id = await running('customers.csv');
      await report(id, 10);
      await page.goto(`${dashboard.url}/jobs/${id}`);
      const bar = page.locator('[data-progress="detail"] progress');
      expect(await bar.getAttribute('value')).toBe('10');
      expect(await page.getByRole('progressbar', { name: `Progress of job #${id}` }).count()).toBe(
        1,
      );
      await mark();

      await report(id, 55);
      await shows(page.locator('[data-progress] .progress-value'), '55%');
      expect(await bar.evaluate((el) => (el as unknown as { value: number }).value)).toBe(55);
      expect(await badgeOf()).toBe('running');

      // Any other JSON replaces the bar, as text: the hostile string stays a string.
      await report(id, { stage: XSS, rows: 1200 });
      await page.locator('[data-progress] pre').waitFor();
      expect(await page.locator('[data-progress] pre').textContent()).toBe(
        JSON.stringify({ stage: XSS, rows: 1200 }, null, 2),
      );
      await report(id, 90);
      await shows(page.locator('[data-progress] .progress-value'), '90%');
      expect(await marked()).toBe(true);

      // The end: the page reloads once, by itself, and shows the outcome and the last progress.
      const reloaded = page.waitForEvent('load');
      ImportHandler.run(id).give({ finish: { imported: 1200 } });
      await reloaded;
      expect(await badgeOf()).toBe('succeeded');
      expect(await marked()).toBe(false);
      expect(await page.locator('#result').textContent()).toContain('"imported": 1200');
      expect(await page.locator('[data-progress] .progress-value').textContent()).toBe('90%');
      expect(await page.locator('[data-live]').count()).toBe(0);
      expect(dialogs).toEqual([]);
    });

    it("refreshes the list's running rows in place: bars, then the status they end in", async () => {
      const first = await running('a.csv');
      const second = await running('b.csv');
      await report(first, 20);
      await page.goto(dashboard.url);
      await mark();
      const row = (id: number) => page.locator(`tr[data-job="${id}"]`);
      expect(await row(first).locator('.progress-value').textContent()).toBe('20%');
      expect(await row(second).locator('[data-progress] .muted').textContent()).toBe('–');

      await report(first, 75);
      await report(second, { stage: 'upload' });
      await shows(row(first).locator('.progress-value'), '75%');
      await row(second).locator('code.progress-json').waitFor();
      expect(await row(second).locator('code.progress-json').textContent()).toBe(
        '{"stage":"upload"}',
      );

      ImportHandler.run(first).give({ finish: null });
      await shows(row(first).locator('[data-status-badge]'), 'succeeded');
      expect(await row(first).getAttribute('data-live')).toBeNull();
      expect(await row(second).getAttribute('data-live')).toBe(String(second));
      expect(await marked()).toBe(true);

      // Cancel asks first when a selected job is running (dismissed here: nothing happens).
      await row(second).locator('input[name="ids"]').check();
      await page.click('button[value="cancel"]');
      expect(dialogs).toEqual([
        "Cancel the selected jobs? A running one's handler will be asked to stop (its signal aborts), " +
          'and whatever its run returns will be dropped.',
      ]);
      expect((await dashboard.jobs.get(second))?.status).toBe('running');
    });

    it('refreshes the counts, the chart and the rows of the list, and says when newer jobs match', async () => {
      const later = await dashboard.jobs.enqueue(
        'email.send',
        { to: 'ada@example.com', subject: 'later' },
        { delay: 3_600_000 },
      );
      await page.goto(dashboard.url);
      await mark();
      const row = page.locator(`tr[data-job="${later.id}"]`);
      expect(await row.locator('[data-status-badge]').textContent()).toBe('pending');
      expect(await page.locator('[data-new-jobs]').isHidden()).toBe(true);

      await dashboard.jobs.cancel(later.id);
      await shows(row.locator('[data-status-badge]'), 'cancelled');
      await shows(page.locator('[data-count="cancelled"]'), '1');

      const sent = await dashboard.jobs.enqueue('email.send', {
        to: 'bob@example.com',
        subject: 'hi',
      });
      await waitFor(
        async () => (await dashboard.jobs.get(sent.id))?.status === 'succeeded',
        'the mail to go out',
      );
      await shows(page.locator('[data-count="succeeded"]'), '1');
      await shows(page.locator('[data-total="ok"]'), '1');
      await shows(page.locator('[data-new-jobs] a'), '1 new job: show it');
      expect(await page.locator('[data-new-jobs]').isVisible()).toBe(true);
      expect(await marked()).toBe(true);
      await page.click('[data-new-jobs] a');
      await page.locator(`tr[data-job="${sent.id}"]`).waitFor();
    });

    it('stops asking the API while the tab is hidden, and refreshes at once when it is shown', async () => {
      await page.goto(dashboard.url);
      const asked: string[] = [];
      page.on('request', (request) => {
        if (request.url().includes('/api/')) asked.push(request.url());
      });
      await waitFor(() => asked.length > 0, 'the page to poll the API');
      const visibility = (hidden: boolean) =>
        page.evaluate(`(() => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => ${hidden} });
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => '${hidden ? 'hidden' : 'visible'}' });
        document.dispatchEvent(new Event('visibilitychange'));
      })()`);
      await visibility(true);
      expect(await page.locator('body').getAttribute('data-live-state')).toBe('paused');
      // A request already sent may still be answered; after that, none for several intervals.
      await page.waitForLoadState('networkidle');
      asked.length = 0;
      await new Promise((resolve) => setTimeout(resolve, REFRESH * 4));
      expect(asked).toEqual([]);
      await dashboard.jobs.enqueue('email.send', { to: 'eve@example.com', subject: 'x' });
      await visibility(false);
      expect(await page.locator('body').getAttribute('data-live-state')).toBe('live');
      await waitFor(() => asked.length > 0, 'the page to poll again');
      await shows(page.locator('[data-new-jobs] a'), '1 new job: show it');
    });

    /**
     * The controls of the page (links, buttons, fields) without an accessible name, as chromium
     * computes it (label, aria-label, text, title): what a screen reader would announce.
     */
    async function unnamedControls(): Promise<string[]> {
      const cdp = await context.newCDPSession(page);
      try {
        const { root } = await cdp.send('DOM.getDocument', { depth: 0 });
        const { nodeIds } = await cdp.send('DOM.querySelectorAll', {
          nodeId: root.nodeId,
          selector: 'a, button, input:not([type="hidden"]), select, textarea',
        });
        const unnamed: string[] = [];
        for (const nodeId of nodeIds) {
          const { nodes } = await cdp.send('Accessibility.getPartialAXTree', {
            nodeId,
            fetchRelatives: false,
          });
          const node = nodes[0];
          const name = String(node?.name?.value ?? '').trim();
          if (node && !node.ignored && name === '') {
            const { outerHTML } = await cdp.send('DOM.getOuterHTML', { nodeId });
            unnamed.push(outerHTML.slice(0, 120));
          }
        }
        return unnamed;
      } finally {
        await cdp.detach();
      }
    }

    it('names every control on every page, and can be used from the keyboard', async () => {
      const { failed } = await seed();
      await running('people.csv');
      const batch = await dashboard.jobs.enqueueBatch([
        { kind: 'email.send', data: { to: 'x@example.com', subject: 'batch' }, delay: 3_600_000 },
      ]);
      const pages = [
        '',
        '?q=example.com&createdFrom=2020-01-01T00:00',
        '?status=failed',
        `/jobs/${failed}`,
        '/kinds',
        '/queues',
        '/schedules',
        `/batches/${batch.id}`,
        '/jobs/999999',
      ];
      // The error page's own status, which chromium logs: not a problem of a page.
      const notFound =
        'Failed to load resource: the server responded with a status of 404 (Not Found)';
      for (const path of pages) {
        await page.goto(`${dashboard.url}${path}`);
        expect({ path, unnamed: await unnamedControls() }).toEqual({ path, unnamed: [] });
      }

      // The first Tab reaches "Skip to content", which moves the focus to the page's content.
      await page.goto(dashboard.url);
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement.textContent')).toBe('Skip to content');
      await page.keyboard.press('Enter');
      expect(await page.evaluate('document.activeElement.id')).toBe('main');
      // The search runs from the keyboard: focus the field by its label, type, Enter.
      await page.getByLabel('Text in data or error').focus();
      await page.keyboard.type('the ledger');
      await page.keyboard.press('Enter');
      await page.waitForURL(/q=the\+ledger/);
      expect(await page.locator('tbody tr').count()).toBe(1);
      expect(await page.locator('tbody tr').first().getAttribute('data-job')).toBe(String(failed));
      // Tab order follows the page: from the field, the next controls are the other filters.
      await page.getByLabel('Text in data or error').focus();
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement.name')).toBe('createdFrom');
      expect(problems).toContain(notFound);
      problems.splice(0, problems.length, ...problems.filter((problem) => problem !== notFound));
    });

    it('cancels a running job from its page once the confirmation says what happens to the run', async () => {
      const id = await running('huge.csv');
      await report(id, 40);
      await page.goto(`${dashboard.url}/jobs/${id}`);
      const buttons = await page.locator('.actions button').allTextContents();
      expect(buttons.map((text) => text.trim())).toEqual(['Cancel']);

      // Dismissed: nothing happens.
      await page.click('button[value="cancel"]');
      expect(dialogs).toEqual([
        `Cancel job #${id} while it runs? Its handler will be asked to stop (its signal aborts), ` +
          'and whatever the run returns will be dropped.',
      ]);
      expect((await dashboard.jobs.get(id))?.status).toBe('running');

      acceptDialogs = true;
      await page.click('button[value="cancel"]');
      await page.waitForSelector('.flash');
      expect(await page.locator('.flash').textContent()).toBe(`Cancelled 1 job (#${id}).`);
      expect(await badgeOf()).toBe('cancelled');
      await ImportHandler.run(id).returned;
      expect(ImportHandler.run(id).abortReason).toBeInstanceOf(JobCancelledError);
      expect(await dashboard.jobs.get(id)).toMatchObject({ status: 'cancelled', result: null });
    });

    it("keeps a cancel's answer: once the form is sent, the page polls no more and never reloads itself", async () => {
      const id = await running('late.csv');
      await report(id, 10);
      await page.goto(`${dashboard.url}/jobs/${id}`);
      let sent = false;
      let pollsAfter = 0;
      page.on('request', (request) => {
        if (sent && request.url().includes('/progress?')) pollsAfter++;
      });
      // The cancel is made at once; its answer (a redirect that carries the flash) is held for two
      // of the page's progress polls, or until the page asks for progress again. A page still
      // polling would see the job cancelled and reload itself over the answer (a flake of the test
      // above in CI: the flash never came).
      const hold = 2 * LIVE_EVERY_MS + 500;
      await page.route('**/*', async (route) => {
        if (route.request().method() !== 'POST') return route.fallback();
        sent = true;
        try {
          const answer = await route.fetch({ maxRedirects: 0 });
          const at = Date.now();
          await waitFor(() => pollsAfter > 0 || Date.now() - at > hold, 'a poll, or two intervals');
          await route.fulfill({ response: answer });
        } catch {
          // (The page left first: the test's expectations below say so.)
        }
      });
      acceptDialogs = true;
      await page.click('button[value="cancel"]');
      await page.waitForSelector('.flash');
      expect(await page.locator('.flash').textContent()).toBe(`Cancelled 1 job (#${id}).`);
      expect(pollsAfter).toBe(0);
      await page.unroute('**/*');
    });

    const screenshots =
      process.env.JOBS_DASHBOARD_SCREENSHOTS === '1' && adapter === 'express' ? it : it.skip;
    screenshots(
      'saves screenshots of the list and a detail page to docs/screenshots (JOBS_DASHBOARD_SCREENSHOTS=1)',
      async () => {
        // Only realistic kinds in the pictures.
        await dashboard.close();
        dashboard = await startDashboardApp({
          database: await freshDatabase(sqlite),
          providers: [ReportHandler, WebhookHandler],
        });
        await finishedHistory();
        const { failed } = await seed();
        const hook = await dashboard.jobs.enqueue('webhook.deliver', {
          url: 'https://hooks.example.com/orders',
          event: 'order.paid',
        });
        await waitFor(
          async () => (await dashboard.jobs.get(hook.id))?.status === 'succeeded',
          'the webhook to be delivered on its third attempt',
        );
        await dashboard.jobs.pauseQueue('reports');
        const dir = join(process.cwd(), 'docs', 'screenshots');
        mkdirSync(dir, { recursive: true });
        await page.setViewportSize({ width: 1440, height: 960 });
        await page.goto(dashboard.url);
        await page.screenshot({ path: join(dir, 'dashboard-list.png') });
        await page.goto(`${dashboard.url}/jobs/${failed}`);
        await page.screenshot({ path: join(dir, 'dashboard-detail.png'), fullPage: true });
        await page.goto(`${dashboard.url}/jobs/${hook.id}`);
        await page.locator('#attempts').scrollIntoViewIfNeeded();
        await page.screenshot({ path: join(dir, 'dashboard-attempts.png'), fullPage: true });
        await page.goto(`${dashboard.url}/kinds`);
        await page.screenshot({ path: join(dir, 'dashboard-kinds.png'), fullPage: true });
        await page.goto(`${dashboard.url}/queues`);
        await page.screenshot({ path: join(dir, 'dashboard-queues.png'), fullPage: true });
        await page.goto(`${dashboard.url}?q=SMTP+451&status=failed`);
        await page.screenshot({ path: join(dir, 'dashboard-search.png') });
      },
    );
  },
);
