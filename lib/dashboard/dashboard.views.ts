import type { JobDetail } from '../storage/job.queries.js';
import { DETAIL_DATA_CHARS } from './dashboard.queries.js';
import { JOB_STATUSES, type JobStatus } from '../interfaces/job-context.interface.js';
import {
  applies,
  CANCEL_RUNNING_NOTE,
  CONFIRM_CANCEL_SELECTED,
  confirmCancelRunning,
} from './dashboard.actions.js';
import { attemptsOf, type Attempt } from './dashboard.attempts.js';
import { finishedChart } from './dashboard.chart.js';
import { html, type Html } from './dashboard.html.js';
import {
  countLinks,
  csrfField,
  layout,
  noHandlerBadge,
  pausedQueueBadge,
  statusBadge,
  time,
  waitingBadge,
  yesNo,
  type PageContext,
} from './dashboard.layout.js';
import { instantText, listQueryString } from './dashboard.params.js';
import { SEARCH_SCAN_ROWS } from '../storage/job.queries.js';
import { progressView } from './dashboard.progress.js';
import { WAITING_RUN_AT } from '../jobs.constants.js';
import type {
  DashboardAction,
  JobEdge,
  JobEdges,
  JobsPage,
  JobsQuery,
  MinuteBucket,
  StatusCounts,
} from './dashboard.types.js';

const PREVIEW_CHARS = 90;

/** The start of a job's data as the list shows it, from the preview the query cut. */
export function dataPreview(
  job: { dataPreview: string; dataTruncated: boolean },
  chars = PREVIEW_CHARS,
): string {
  const json = job.dataPreview === 'null' ? '' : job.dataPreview;
  return json.length > chars || job.dataTruncated ? `${json.slice(0, chars)}…` : json;
}

/** Pretty JSON, cut to `max` characters (a result can be a megabyte). */
function pretty(value: unknown, max = DETAIL_DATA_CHARS): string {
  const text = value === undefined || value === null ? 'null' : JSON.stringify(value, null, 2);
  return text.length > max
    ? `${text.slice(0, max)}\n… (${text.length - max} more characters)`
    : text;
}

/** The job's data: pretty when it came whole, else its first characters and a download link. */
function dataSection(page: PageContext, job: JobDetail): Html {
  const download = `${page.base}/jobs/${job.id}/data`;
  if (job.dataText.length >= job.dataLength) {
    return html`<pre id="data">${pretty(JSON.parse(job.dataText))}</pre>`;
  }
  return html`<p class="muted" id="data-cut">
      The data is ${job.dataLength} characters of JSON; here are the first ${job.dataText.length}.
      <a href="${download}" download>Download all of it</a>
    </p>
    <pre id="data">${job.dataText}…</pre>`;
}

const BUTTONS: Array<{ action: DashboardAction; label: string; className: string }> = [
  { action: 'run', label: 'Run now', className: '' },
  { action: 'retry', label: 'Retry', className: 'secondary' },
  { action: 'cancel', label: 'Cancel', className: 'secondary' },
  { action: 'delete', label: 'Delete', className: 'danger' },
];

/**
 * The action buttons: in the list all of them (Cancel asks first when a selected job is running);
 * on a job's page those that apply to its status (Cancel of a running job asks first).
 */
function actionButtons(job?: { id: number; status: JobStatus }): Html {
  const shown = job ? BUTTONS.filter((button) => applies(button.action, job.status)) : BUTTONS;
  return html`${shown.map(({ action, label, className }) => {
    const confirm =
      action !== 'cancel'
        ? ''
        : !job
          ? html` data-confirm="${CONFIRM_CANCEL_SELECTED}" data-confirm-running`
          : job.status === 'running'
            ? html` data-confirm="${confirmCancelRunning(job.id)}"`
            : '';
    return html`<button
      type="submit"
      name="action"
      value="${action}"
      class="${className}"
      ${confirm}
    >
      ${label}
    </button> `;
  })}`;
}

/** The group a listed job belongs to (the key its kind's per-group limits count by), if any. */
function groupNote(group: string | null): Html | string {
  return group === null
    ? ''
    : html` <span class="muted" data-group title="group">· ${group}</span>`;
}

/** A pending job held until its dependencies end: its `run_at` is the never-due WAITING_RUN_AT. */
function waitsOnDependencies(job: { status: JobStatus; runAt: Date }): boolean {
  return job.status === 'pending' && job.runAt.getTime() >= WAITING_RUN_AT;
}

/** When an active job runs next; a job waiting on its dependencies has no time (its run_at is a sentinel). */
function nextRun(job: { status: JobStatus; active: boolean; runAt: Date }): Html {
  if (!job.active) return time(null);
  return waitsOnDependencies(job)
    ? html`<span class="muted" data-next-run="dependencies">when its dependencies end</span>`
    : time(job.runAt);
}

/** A running row is refreshed in place by the live script (dashboard.live.ts). */
function liveRow(id: number, status: JobStatus): Html | string {
  return status === 'running' ? html`data-live="${id}"` : '';
}

/** A time of the search, in UTC (the pages show UTC times). */
function timeInput(label: string, name: string, value: number | undefined): Html {
  return html`<label
    >${label} (UTC)<input
      type="datetime-local"
      step="1"
      name="${name}"
      value="${value === undefined ? '' : instantText(value)}"
  /></label>`;
}

/**
 * What a text or creation-time search examined: no index serves it, so each page reads at most
 * SEARCH_SCAN_ROWS rows from its cursor and may show fewer jobs than it could, none even.
 */
function scanNote(scan: JobsPage['scan'], query: JobsQuery): Html | string {
  if (!scan) return '';
  const range =
    scan.from === null && scan.to === null
      ? 'every job'
      : html`jobs
        ${scan.from === null ? 'from the ' + (query.order === 'newest' ? 'newest' : 'oldest') : html`past #${scan.from}`}${scan.to === null ? ' to the end' : html` to #${scan.to}`}`;
  return html`<p class="note" data-scan data-scan-more="${scan.more}">
    This page searched ${range} (at most ${SEARCH_SCAN_ROWS.toLocaleString('en')} per page).
    ${scan.more ? 'More may match further on: follow the link below to search on.' : 'Nothing further on can match.'}
  </p>`;
}

/**
 * The list's first page refreshes its rows and says how many newer jobs match (dashboard.live.ts),
 * from `api/jobs` with the same filters; a later page, or a bounded search, stays as it was read.
 */
function liveList(query: JobsQuery, jobs: JobsPage): Html | string {
  if (query.after !== undefined || query.before !== undefined || jobs.scan) return '';
  return html`data-live-list="${listQueryString(query)}"`;
}

export interface ListView {
  query: JobsQuery;
  page: JobsPage;
  counts: StatusCounts;
  kinds: string[];
  /** Kinds no running instance handles: their pending jobs are marked. */
  unhandled: Set<string>;
  /** Queues that are paused: their jobs are marked. */
  pausedQueues: Set<string>;
  chart: MinuteBucket[];
  /** The URL to come back to after an action (path and query). */
  here: string;
}

export function listPage(page: PageContext, view: ListView): Html {
  const { query } = view;
  const link = (change: Partial<JobsQuery>) => `${page.base}${listQueryString(query, change)}`;
  const option = (value: string, label: string, selected: boolean) =>
    html`<option value="${value}" ${selected ? html` selected` : ''}>${label}</option>`;
  const filters = html`<form class="filters" method="get" action="${page.base}">
    <label
      >Status<select name="status">
        ${option('', 'any', !query.status)}${JOB_STATUSES.map((s) => option(s, s, query.status === s))}
      </select></label
    >
    <label
      >Kind<select name="kind">
        ${option('', 'any', !query.kind)}${view.kinds.map((k) => option(k, k, query.kind === k))}
      </select></label
    >
    <label
      >Queue<input name="queue" value="${query.queue ?? ''}" placeholder="any" size="12"
    /></label>
    <label
      >Batch<input
        name="batch"
        value="${query.batch ?? ''}"
        placeholder="any"
        size="6"
        inputmode="numeric"
    /></label>
    <label
      >Periodic<select name="periodic">
        ${option('', 'any', query.periodic === undefined)}${option('true', 'periodic', query.periodic === true)}${option('false', 'one-off', query.periodic === false)}
      </select></label
    >
    <label
      >Order<select name="order">
        ${option('newest', 'newest first', query.order === 'newest')}${option('oldest', 'oldest first', query.order === 'oldest')}
      </select></label
    >
    <label
      >Id<input name="id" value="${query.id ?? ''}" placeholder="any" size="7" inputmode="numeric"
    /></label>
    <label
      >Text in data or error<input
        type="search"
        name="q"
        value="${query.text ?? ''}"
        placeholder="e.g. ada@example.com"
        size="22"
    /></label>
    ${timeInput('Created from', 'createdFrom', query.createdFrom)}${timeInput('Created before', 'createdTo', query.createdTo)}${timeInput('Finished from', 'finishedFrom', query.finishedFrom)}${timeInput('Finished before', 'finishedTo', query.finishedTo)}
    <button type="submit">Filter</button> <a href="${page.base}">Clear</a>
  </form>`;
  const rows = view.page.jobs.map(
    (job) =>
      html`<tr data-job="${job.id}" data-status="${job.status}" ${liveRow(job.id, job.status)}>
        <td>
          <input type="checkbox" name="ids" value="${job.id}" aria-label="select job ${job.id}" />
        </td>
        <td><a href="${page.base}/jobs/${job.id}">#${job.id}</a></td>
        <td>
          <a class="plain" href="${link({ kind: job.kind })}">${job.kind}</a>${groupNote(job.group)}
        </td>
        <td>${job.queue}${pausedQueueBadge(page, view.pausedQueues.has(job.queue))}</td>
        <td class="data" title="${dataPreview(job, 300)}">${dataPreview(job)}</td>
        <td class="time">${time(job.created)}</td>
        <td>
          ${statusBadge(job.status)}${noHandlerBadge(job.status, view.unhandled.has(job.kind))}${waitingBadge(job.waiting)}${
            job.failed && job.active
              ? html` <span class="muted" title="an attempt failed; it will be retried"
                  >retrying</span
                >`
              : ''
          }
        </td>
        <td>${progressView(job.id, job.progress, 'list')}</td>
        <td>${yesNo(job.active)}</td>
        <td>${yesNo(job.periodic)}</td>
        <td data-cell="attempts">${job.attempts} / ${job.maxAttempts}</td>
        <td class="time" data-cell="last-run">${time(job.lastRun)}</td>
        <td class="time">${nextRun(job)}</td>
      </tr>`,
  );
  const table = view.page.jobs.length
    ? html`<div class="scroll">
        <table>
          <thead>
            <tr>
              <th><input type="checkbox" data-select-all aria-label="select all" /></th>
              <th>Id</th>
              <th>Kind</th>
              <th>Queue</th>
              <th>Data</th>
              <th>Created</th>
              <th>Status</th>
              <th>Progress</th>
              <th>Active</th>
              <th>Periodic</th>
              <th>Attempts</th>
              <th>Last run</th>
              <th>Next run</th>
            </tr>
          </thead>
          <tbody>
            ${rows}
          </tbody>
        </table>
      </div>`
    : html`<p class="empty">No jobs match these filters.</p>`;
  const pager = html`${scanNote(view.page.scan, query)}
    <nav class="pager" aria-label="pages">
      ${view.page.previous !== null ? html`<a rel="prev" href="${link({ before: view.page.previous })}">← ${query.order === 'newest' ? 'Newer' : 'Older'}</a>` : ''}
      ${view.page.next !== null ? html`<a rel="next" href="${link({ after: view.page.next })}">${query.order === 'newest' ? 'Older' : 'Newer'} →</a>` : ''}
    </nav>`;
  const batchNote =
    query.batch === undefined
      ? ''
      : html`<p class="note" data-batch-filter="${query.batch}">
          Only the jobs of
          <a href="${page.base}/batches/${query.batch}">batch #${query.batch}</a>.
          <a href="${link({ batch: undefined })}">Show every batch</a>
        </p>`;
  return layout(
    page,
    query.batch === undefined ? 'Jobs' : `Jobs of batch #${query.batch}`,
    html`<h1>Jobs</h1>
      ${batchNote}${countLinks(view.counts, (status) => link({ status }), query.status)}${finishedChart(view.chart)}${filters}
      <form method="post" action="${page.base}/actions">
        ${csrfField(page)}<input type="hidden" name="return" value="${view.here}" />
        <div class="actions"><span class="muted">Selected:</span> ${actionButtons()}</div>
        <p class="note" data-new-jobs ${liveList(query, view.page)} hidden role="status">
          <a href="${view.here}">new jobs</a>
        </p>
        ${table}
      </form>
      ${pager}`,
  );
}

const OUTCOME_CLASS: Record<Attempt['outcome'], string> = {
  running: 'running',
  succeeded: 'succeeded',
  retrying: 'pending',
  failed: 'failed',
  cancelled: 'cancelled',
  interrupted: 'waiting',
  ended: 'pending',
};

const OUTCOME_LABEL: Record<Attempt['outcome'], string> = {
  running: 'running',
  succeeded: 'succeeded',
  retrying: 'failed, retried',
  failed: 'failed',
  cancelled: 'cancelled',
  interrupted: 'interrupted',
  ended: 'ended (pending again)',
};

function took(attempt: Attempt): string {
  if (!attempt.started || !attempt.ended) return '–';
  const ms = attempt.ended.getTime() - attempt.started.getTime();
  return ms < 1_000 ? `${ms} ms` : `${(ms / 1_000).toFixed(1)} s`;
}

/** The job's attempts, oldest first (dashboard.attempts.ts reads them from the logs and the row). */
function attemptsTimeline(attempts: Attempt[]): Html {
  if (attempts.length === 0) return html`<p class="muted" id="attempts">Not run yet.</p>`;
  const rows = attempts.map(
    (attempt) =>
      html`<tr data-attempt="${attempt.attempt ?? ''}" data-outcome="${attempt.outcome}">
        <td>
          ${attempt.attempt === null ? html`<span class="muted">–</span>` : html`${attempt.attempt}${attempt.of === null ? '' : html` of ${attempt.of}`}`}
        </td>
        <td class="time">${time(attempt.started)}</td>
        <td class="time">${time(attempt.ended)}</td>
        <td class="time">${took(attempt)}</td>
        <td>
          <span class="badge ${OUTCOME_CLASS[attempt.outcome]}"
            >${OUTCOME_LABEL[attempt.outcome]}</span
          >
        </td>
        <td>${attempt.instance ?? html`<span class="muted">–</span>`}</td>
        <td class="error">${attempt.error ?? html`<span class="muted">–</span>`}</td>
      </tr>`,
  );
  return html`<div class="scroll">
    <table id="attempts">
      <caption class="muted">
        The logs keep their newest lines: the oldest attempts of a long history may be missing.
      </caption>
      <thead>
        <tr>
          <th scope="col">Attempt</th>
          <th scope="col">Started</th>
          <th scope="col">Ended</th>
          <th scope="col">Took</th>
          <th scope="col">Outcome</th>
          <th scope="col">Instance</th>
          <th scope="col">Error</th>
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>
  </div>`;
}

/** One direction of a job's dependencies: links to the other jobs with kind and status. */
function edgeList(page: PageContext, id: string, edges: JobEdge[], more: number): Html {
  if (edges.length === 0) return html`<p class="muted" id="${id}">None.</p>`;
  const items = edges.map((edge) =>
    edge.status === null
      ? html`<li data-edge="${edge.id}" data-edge-status="deleted">
          #${edge.id} <span class="badge cancelled">deleted</span>${
            edge.ended ? html` <span class="muted">(it had ${edge.ended})</span>` : ''
          }
        </li>`
      : html`<li data-edge="${edge.id}" data-edge-status="${edge.status}">
          <a href="${page.base}/jobs/${edge.id}">#${edge.id}</a>
          <span class="muted">${edge.kind}</span> ${statusBadge(edge.status)}
        </li>`,
  );
  return html`<ul class="edges" id="${id}">
    ${items}${more > 0 ? html`<li class="muted" data-more="${more}">… and ${more} more</li>` : ''}
  </ul>`;
}

/** "Waits on" and "Waited on by", for a job in a flow (the sections are left out otherwise). */
function dependenciesSection(page: PageContext, edges: JobEdges | null): Html | string {
  if (!edges) return '';
  return html`<h2>Waits on</h2>
    ${edgeList(page, 'waits-on', edges.waitsOn, edges.waitsOnMore)}
    <h2>Waited on by</h2>
    ${edgeList(page, 'waited-on-by', edges.waitedOnBy, edges.waitedOnByMore)}`;
}

export function detailPage(
  page: PageContext,
  job: JobDetail,
  unhandled = false,
  queuePaused = false,
  edges: JobEdges | null = null,
): Html {
  const here = `${page.base}/jobs/${job.id}`;
  const running = job.status === 'running';
  const fields = html`<dl>
    <dt>Kind</dt>
    <dd><a href="${page.base}?kind=${encodeURIComponent(job.kind)}">${job.kind}</a></dd>
    <dt>Queue</dt>
    <dd>${job.queue}${pausedQueueBadge(page, queuePaused)}</dd>
    <dt>Group</dt>
    <dd data-group>${job.group ?? html`<span class="muted">–</span>`}</dd>
    <dt>Status</dt>
    <dd>
      ${statusBadge(job.status)}${noHandlerBadge(job.status, unhandled)}${waitingBadge(job.waiting, true)}
    </dd>
    <dt>Progress</dt>
    <dd>${progressView(job.id, job.progress, 'detail')}</dd>
    <dt>Active</dt>
    <dd>${yesNo(job.active)}</dd>
    <dt>Periodic</dt>
    <dd>${job.periodic ? `yes, every ${job.interval} ms` : 'no'}</dd>
    <dt>Failed</dt>
    <dd>${yesNo(job.failed)}</dd>
    <dt>Priority</dt>
    <dd>${job.priority}</dd>
    <dt>Attempts</dt>
    <dd>${job.attempts} of ${job.maxAttempts}</dd>
    <dt>Created</dt>
    <dd>${time(job.created)}</dd>
    <dt>Next run</dt>
    <dd>${nextRun(job)}</dd>
    <dt>Dependencies left</dt>
    <dd data-deps-left>${job.dependenciesLeft ?? html`<span class="muted">–</span>`}</dd>
    <dt>Batch</dt>
    <dd data-batch>
      ${
        job.batchId === null
          ? html`<span class="muted">–</span>`
          : html`<a href="${page.base}/batches/${job.batchId}">batch #${job.batchId}</a>`
      }
    </dd>
    <dt>Last run</dt>
    <dd>${time(job.lastRun)}</dd>
    <dt>Finished</dt>
    <dd>${time(job.finishedAt)}</dd>
    <dt>Locked by</dt>
    <dd>${job.lockedBy ?? html`<span class="muted">–</span>`}</dd>
    <dt>Locked until</dt>
    <dd>${time(job.lockedUntil)}</dd>
    <dt>Unique key</dt>
    <dd>${job.uniqueKey ?? html`<span class="muted">–</span>`}</dd>
  </dl>`;
  return layout(
    page,
    `Job #${job.id}`,
    html`<div ${running ? html`data-live="${job.id}" data-live-reload` : ''}>
        <h1>Job #${job.id} <span class="muted">${job.kind}</span> ${statusBadge(job.status)}</h1>
        <form method="post" action="${page.base}/actions">
          ${csrfField(page)}<input type="hidden" name="return" value="${here}" /><input
            type="hidden"
            name="ids"
            value="${job.id}"
          />
          <div class="actions">${actionButtons(job)}</div>
        </form>
        ${running ? html`<p class="note" id="cancel-note">${CANCEL_RUNNING_NOTE}</p>` : ''}
        ${fields}
      </div>
      ${dependenciesSection(page, edges)}
      <h2>Data</h2>
      ${dataSection(page, job)}
      <h2>Result</h2>
      <pre id="result">${pretty(job.result)}</pre>
      <h2>Attempts</h2>
      ${attemptsTimeline(attemptsOf(job))}
      <h2>Last error</h2>
      ${job.lastError ? html`<pre id="last-error">${job.lastError}</pre>` : html`<p class="muted">None.</p>`}
      <h2>Logs</h2>
      ${job.logs ? html`<pre id="logs">${job.logs}</pre>` : html`<p class="muted">No logs.</p>`}`,
  );
}

export function errorPage(page: PageContext, status: number, message: string): Html {
  return layout(
    page,
    `Error ${status}`,
    html`<h1>Error ${status}</h1>
      <p class="flash error">${message}</p>
      <p><a href="${page.base}">Back to the jobs</a></p>`,
  );
}
