import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { DataSource } from 'typeorm';
import { JobEntity } from 'nestjs-typeorm-jobs';
import { backends } from './support/backends.js';
import {
  browserSkipReason,
  CHROMIUM,
  CHROMIUM_ARGS,
  DASHBOARD_PASSWORD,
  DASHBOARD_USER,
  HostileHandler,
  ReportHandler,
  startDashboardApp,
  XSS,
  type DashboardApp,
} from './support/browser.js';
import { freshDatabase, waitFor } from './support/fixtures.js';

// SQLite only: the browser is the slow part, and the HTTP suite covers every backend.
const sqlite = backends.find((backend) => backend.name === 'sqlite')!;
const skipped = browserSkipReason();
const suite = skipped ? describe.skip : describe;

suite(`dashboard in chromium [sqlite]${skipped ? ` [${skipped}]` : ''}`, () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let dashboard: DashboardApp;
  const dialogs: string[] = [];
  /** Script errors and console errors, CSP violations included: a page must have none. */
  const problems: string[] = [];

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      headless: true,
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    ReportHandler.failing = true;
    dialogs.length = 0;
    problems.length = 0;
    dashboard = await startDashboardApp({
      database: await freshDatabase(sqlite),
      providers: [ReportHandler, HostileHandler],
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
      void dialog.dismiss();
    });
  });

  afterEach(async () => {
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

  const screenshots = process.env.JOBS_DASHBOARD_SCREENSHOTS === '1' ? it : it.skip;
  screenshots(
    'saves screenshots of the list and a detail page to docs/screenshots (JOBS_DASHBOARD_SCREENSHOTS=1)',
    async () => {
      // Only realistic kinds in the pictures.
      await dashboard.close();
      dashboard = await startDashboardApp({
        database: await freshDatabase(sqlite),
        providers: [ReportHandler],
      });
      await finishedHistory();
      const { failed } = await seed();
      const dir = join(process.cwd(), 'docs', 'screenshots');
      mkdirSync(dir, { recursive: true });
      await page.setViewportSize({ width: 1440, height: 960 });
      await page.goto(dashboard.url);
      await page.screenshot({ path: join(dir, 'dashboard-list.png') });
      await page.goto(`${dashboard.url}/jobs/${failed}`);
      await page.screenshot({ path: join(dir, 'dashboard-detail.png'), fullPage: true });
      await page.goto(`${dashboard.url}/kinds`);
      await page.screenshot({ path: join(dir, 'dashboard-kinds.png'), fullPage: true });
    },
  );
});
