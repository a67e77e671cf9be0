import { JOB_STATUSES } from '../interfaces/job-context.interface.js';
import type { JobQueueInfo } from '../interfaces/jobs-service.interface.js';
import { describeLimits } from '../limits/kind-limits.js';
import { html, type Html } from './dashboard.html.js';
import { csrfField, layout, type PageContext } from './dashboard.layout.js';
import type { QueueAction } from './dashboard.queues.js';
import type { KindLimitsOf, QueueRow } from './dashboard.types.js';

/**
 * `.` and `..` are dot segments: browsers and HTTP clients resolve them away (encoded too, as
 * `%2e`), so no URL path can name such a queue. Its buttons are off and say where to act instead.
 */
function addressable(name: string): boolean {
  return name !== '.' && name !== '..';
}

/** Where a queue's button posts: the name is one encoded path segment (`/`, `?`, `#` included). */
export function queueActionPath(base: string, name: string, action: QueueAction): string {
  return `${base}/queues/${encodeURIComponent(name)}/${action}`;
}

function listLink(page: PageContext, queue: JobQueueInfo, status?: string): string {
  const filter = `?queue=${encodeURIComponent(queue.name)}`;
  return `${page.base}${filter}${status ? `&status=${status}` : ''}`;
}

function toggle(page: PageContext, queue: JobQueueInfo): Html {
  const action: QueueAction = queue.paused ? 'resume' : 'pause';
  const label = queue.paused ? 'Resume' : 'Pause';
  if (!addressable(queue.name)) {
    return html`<button
      type="button"
      disabled
      title="A queue named ${queue.name} cannot be named in a URL: use JobsService.${action}Queue() or the CLI"
    >
      ${label}
    </button>`;
  }
  return html`<form method="post" action="${queueActionPath(page.base, queue.name, action)}">
    ${csrfField(page)}
    <button
      type="submit"
      class="${queue.paused ? '' : 'secondary'}"
      aria-label="${action} queue ${queue.name}"
    >
      ${label}
    </button>
  </form>`;
}

/** The limits of the kinds with jobs in the queue, one kind a line, each linking to its jobs there. */
function limitsCell(page: PageContext, queue: QueueRow): Html {
  if (queue.limits.length === 0) return html`<td data-limits><span class="muted">–</span></td>`;
  const kindLink = ({ kind }: KindLimitsOf) =>
    `${listLink(page, queue)}&kind=${encodeURIComponent(kind)}`;
  return html`<td data-limits>
    ${queue.limits.map(
      (row, i) =>
        html`${i > 0 ? html`<br />` : ''}<span data-kind-limits="${row.kind}"
            ><a class="plain" href="${kindLink(row)}">${row.kind}</a>:
            ${describeLimits(row.limits)}</span
          >`,
    )}
  </td>`;
}

/** One column of the table: a new field of QueueRow is one more entry here. */
interface QueueColumn {
  heading: string;
  cell(page: PageContext, queue: QueueRow): Html;
}

const COLUMNS: QueueColumn[] = [
  {
    heading: 'Queue',
    cell: (page, queue) => html`<td><a href="${listLink(page, queue)}">${queue.name}</a></td>`,
  },
  {
    heading: 'State',
    cell: (_page, queue) =>
      html`<td data-state>
        ${queue.paused ? html`<span class="badge paused">paused</span>` : html`<span class="muted">active</span>`}
      </td>`,
  },
  { heading: 'Limits', cell: limitsCell },
  ...JOB_STATUSES.map((status): QueueColumn => ({
    heading: status,
    cell: (page, queue) =>
      html`<td data-jobs="${status}">
        <a class="plain" href="${listLink(page, queue, status)}">${queue.counts[status]}</a>
      </td>`,
  })),
  { heading: '', cell: (page, queue) => html`<td>${toggle(page, queue)}</td>` },
];

/**
 * Every queue: paused or not, the limits of its kinds, its jobs per status (each a link to the
 * list), Pause or Resume.
 */
export function queuesPage(page: PageContext, queues: QueueRow[]): Html {
  const table = queues.length
    ? html`<div class="scroll">
        <table>
          <thead>
            <tr>
              ${COLUMNS.map((column) => html`<th>${column.heading}</th>`)}
            </tr>
          </thead>
          <tbody>
            ${queues.map(
              (queue) =>
                html`<tr data-queue="${queue.name}">
                  ${COLUMNS.map((column) => column.cell(page, queue))}
                </tr>`,
            )}
          </tbody>
        </table>
      </div>`
    : html`<p class="empty">No queues yet: a queue is listed once it holds a job or is paused.</p>`;
  return layout(
    page,
    'Queues',
    html`<h1>Queues</h1>
      ${table}
      <p class="muted">
        A paused queue is paused on every instance, across restarts, until resumed: no instance
        starts its jobs (nor does "Run pending jobs"), running ones finish, and enqueueing into it
        still works. The "paused" column counts jobs of paused schedules.
      </p>
      <p class="muted">
        "Limits" are those the code of each kind with jobs in the queue declares (<code
          >@JobKind(name, { concurrency, rateLimit, group })</code
        >), as its instances recorded them at their start. They hold across every instance; "per
        group" limits hold for each group key on its own.
      </p>`,
  );
}
