import { JOB_STATUSES, type JobStatus } from '../interfaces/job-context.interface.js';
import type { JobWaiting } from '../limits/kind-limits.js';
import { CSRF_FIELD } from './dashboard.constants.js';
import type { Flash } from './dashboard.flash.js';
import { html, Html, type HtmlValue } from './dashboard.html.js';
import { LIVE_SCRIPT } from './dashboard.live.js';
import type { StatusCounts } from './dashboard.types.js';

/** What every page needs: where the dashboard lives, its title, this response's nonce and CSRF token. */
export interface PageContext {
  base: string;
  title: string;
  nonce: string;
  csrf: string;
  flash: Flash | null;
  /** How often the live script refreshes counts, chart and list (ms; `refreshInterval`). */
  refresh: number;
}

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f5f6f8}
header{display:flex;align-items:center;gap:20px;padding:10px 24px;background:#1d2330;color:#fff}
header a{color:#cfd6e4;text-decoration:none}header a:hover,header a.here{color:#fff}header .brand{font-weight:600;color:#fff;font-size:16px}
header form{margin-left:auto}header nav{display:flex;gap:20px}
.skip{position:absolute;left:8px;top:-40px;padding:6px 10px;background:#fff;color:#1d2330;z-index:1}.skip:focus{top:8px}
:focus-visible{outline:2px solid #2456c9;outline-offset:2px}header :focus-visible{outline-color:#fff}main:focus{outline:none}main{padding:18px 24px;max-width:1400px}.scroll{overflow-x:auto}h1{font-size:20px;margin:0 0 12px}h2{font-size:15px;margin:22px 0 8px}
a{color:#2456c9}a.plain{color:inherit;text-decoration:none}a.plain:hover{text-decoration:underline}table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde1e8}
th,td{padding:6px 8px;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top}th{background:#f0f2f5;font-weight:600;white-space:nowrap}
td.data{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;max-width:240px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
td.time{white-space:nowrap;font-size:12px}pre{background:#fff;border:1px solid #dde1e8;padding:10px;overflow:auto;max-height:480px;white-space:pre-wrap;word-break:break-word;font-size:12px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;background:#e4e7ec}
.pending{background:#e3ecfb;color:#1d4ea8}.running{background:#fff1d6;color:#8a5a00}.succeeded{background:#dcf3e3;color:#17703a}
.failed{background:#fbe0e0;color:#a32020}.cancelled{background:#e8e8e8;color:#555}.paused{background:#ece3fb;color:#5b2da8}.waiting{background:#fde7cf;color:#8a3b00}
.counts{display:flex;gap:8px;flex-wrap:wrap;margin:0 0 12px;padding:0;list-style:none}.counts a{text-decoration:none}
.counts .badge{font-size:13px;padding:4px 12px}.counts .here .badge{outline:2px solid #1d2330}
form.filters{display:flex;gap:10px;flex-wrap:wrap;align-items:end;margin:0 0 12px}form.filters label{display:flex;flex-direction:column;font-size:12px;color:#556}
input,select,button{font:inherit;padding:4px 8px;border:1px solid #c5cbd6;border-radius:4px;background:#fff}
button{cursor:pointer;background:#2456c9;color:#fff;border-color:#2456c9}button.secondary{background:#fff;color:#2456c9}button.danger{background:#fff;color:#a32020;border-color:#a32020}
.actions{display:flex;gap:8px;align-items:center;margin:8px 0}.pager{display:flex;gap:16px;margin:10px 0}
.flash{padding:8px 12px;border-radius:4px;margin:0 0 12px;background:#dcf3e3;border:1px solid #9fd8b1}.flash.error{background:#fbe0e0;border-color:#e6a3a3}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;background:#fff;border:1px solid #dde1e8;padding:10px;margin:0}dt{color:#556}dd{margin:0}
.chart{margin:0 0 14px;background:#fff;border:1px solid #dde1e8;padding:8px}.chart svg{width:100%;max-width:720px;height:auto;display:block}
.chart text{font-size:10px;fill:#556}.chart .axis{stroke:#889}.chart .grid{stroke:#eee}.chart rect.ok{fill:#3aa45f}.chart rect.ko{fill:#d64545}
figcaption{font-size:12px;color:#556}.swatch{display:inline-block;width:10px;height:10px}.swatch.ok{background:#3aa45f}.swatch.ko{background:#d64545}
.progress{display:flex;align-items:center;gap:6px;white-space:nowrap}.progress progress{width:110px;height:12px;accent-color:#2456c9}
.progress-value{font-size:12px;font-variant-numeric:tabular-nums}code.progress-json{font-size:12px;display:inline-block;max-width:220px;overflow:hidden;text-overflow:ellipsis;vertical-align:bottom}
pre.progress-json{margin:0;max-height:240px;flex:1}.batch-progress progress{width:320px}
ul.edges{background:#fff;border:1px solid #dde1e8;margin:0;padding:8px 10px 8px 30px}ul.edges li{margin:2px 0}.note{margin:0 0 10px;font-size:13px;color:#556}
td.error{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;white-space:pre-wrap;word-break:break-word}caption{text-align:left;font-size:12px;padding:4px 0}
.muted{color:#889}.empty{padding:24px;text-align:center;color:#889;background:#fff;border:1px solid #dde1e8}
`;

/**
 * Selection helpers, confirmations, live counts and the running jobs' live refresh from the JSON
 * API; the pages work without it. A button with `data-confirm` asks first; with
 * `data-confirm-running` too, only when a selected row is running.
 */
const SCRIPT = `
document.querySelectorAll('input[data-select-all]').forEach(function (all) {
  all.addEventListener('change', function () {
    document.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = all.checked; });
  });
});
document.querySelectorAll('button[data-confirm]').forEach(function (button) {
  button.addEventListener('click', function (event) {
    if (button.hasAttribute('data-confirm-running')) {
      var running = 0;
      button.form.querySelectorAll('input[name="ids"]:checked').forEach(function (box) {
        var row = box.closest('tr');
        if (row && row.getAttribute('data-status') === 'running') running++;
      });
      if (running === 0) return;
    }
    if (!window.confirm(button.getAttribute('data-confirm'))) event.preventDefault();
  });
});
${LIVE_SCRIPT}`;

export function layout(page: PageContext, heading: string, body: HtmlValue): Html {
  const flash = page.flash
    ? html`<div class="flash ${page.flash.kind}" role="status">${page.flash.text}</div>`
    : '';
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width,initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <link rel="icon" href="data:," />
        <title>${heading} · ${page.title}</title>
        <style nonce="${page.nonce}">
          ${new Html(STYLE)}
        </style>
      </head>
      <body data-api="${page.base}/api" data-refresh="${page.refresh}">
        <a class="skip" href="#main">Skip to content</a>
        <header>
          <a class="brand" href="${page.base}">${page.title}</a>
          <nav aria-label="Dashboard">
            <a href="${page.base}">Jobs</a><a href="${page.base}/kinds">Kinds</a
            ><a href="${page.base}/queues">Queues</a><a href="${page.base}/schedules">Schedules</a>
          </nav>
          ${page.csrf ? html`<form method="post" action="${page.base}/run-pending">${csrfField(page)}<button type="submit" class="secondary">Run pending jobs</button></form>` : ''}
        </header>
        <main id="main" tabindex="-1">${flash}${body}</main>
        <script nonce="${page.nonce}">
          ${new Html(SCRIPT)};
        </script>
      </body>
    </html>`;
}

export function csrfField(page: PageContext): Html {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${page.csrf}" />`;
}

export function statusBadge(status: JobStatus): Html {
  return html`<span class="badge ${status}" data-status-badge>${status}</span>`;
}

/** Marks a pending job whose kind no running instance handles: it waits (README, "Removing a kind"). */
export function noHandlerBadge(status: JobStatus, unhandled: boolean): Html | string {
  return status === 'pending' && unhandled
    ? html` <span
        class="badge failed"
        title="no running instance has a handler for this kind: the job waits"
        >no handler</span
      >`
    : '';
}

/** Marks a job whose queue is paused (no instance starts its jobs), linking to the Queues page. */
export function pausedQueueBadge(page: PageContext, paused: boolean): Html | string {
  return paused
    ? html` <a
        class="badge paused"
        href="${page.base}/queues"
        title="this queue is paused: no instance starts its jobs until it is resumed"
        >paused</a
      >`
    : '';
}

/** What each reason a due job waits for reads as, in a badge. */
const WAITING_LABELS: Record<JobWaiting['reason'], string> = {
  'queue-paused': 'queue paused',
  concurrency: 'kind at its concurrency limit',
  'rate-limit': 'kind at its rate limit',
  'group-concurrency': 'group at its concurrency limit',
  'group-rate-limit': 'group at its rate limit',
  dependencies: 'dependencies not yet ended',
};

/**
 * Marks a pending, due job something holds back (JobEntity.waiting): the reason in the badge, the
 * figures in its title (and, with `withMessage`, after it).
 */
export function waitingBadge(
  waiting: JobWaiting | null | undefined,
  withMessage = false,
): Html | string {
  if (!waiting) return '';
  const badge = html` <span
    class="badge waiting"
    data-waiting="${waiting.reason}"
    title="waits: ${waiting.message}"
    >waits: ${WAITING_LABELS[waiting.reason]}</span
  >`;
  return withMessage
    ? html`${badge} <span class="muted" data-waiting-message>${waiting.message}</span>`
    : badge;
}

/** `2026-11-24 10:24:09 UTC`, in a <time> element. */
export function time(value: Date | null | undefined): Html {
  if (!value) return html`<span class="muted">–</span>`;
  const iso = value.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')}</time>`;
}

export function yesNo(value: boolean): string {
  return value ? 'yes' : 'no';
}

/** Counts per status, each a link to the list filtered by it. */
export function countLinks(
  counts: StatusCounts,
  href: (status: JobStatus) => string,
  current?: JobStatus,
): Html {
  return html`<ul class="counts">
    ${JOB_STATUSES.map(
      (status) =>
        html`<li class="${status === current ? 'here' : ''}">
          <a href="${href(status)}"
            ><span class="badge ${status}"
              >${status} <span data-count="${status}">${counts[status]}</span></span
            ></a
          >
        </li>`,
    )}
  </ul>`;
}
