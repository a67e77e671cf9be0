import type { JobSchedule } from '../interfaces/schedule-options.interface.js';
import { html, type Html } from './dashboard.html.js';
import { csrfField, layout, statusBadge, time, type PageContext } from './dashboard.layout.js';

/** What a schedule's form may ask. */
export type ScheduleAction = 'pause' | 'resume';

/** The start of a schedule's data, for its row (a schedule's data is usually small). */
function dataPreview(data: unknown): string {
  const json = data === null || data === undefined ? '' : JSON.stringify(data);
  return json.length > 90 ? `${json.slice(0, 90)}…` : json;
}

function spec(schedule: JobSchedule): string {
  if (schedule.every !== null) return `every ${schedule.every} ms`;
  return `${schedule.cron}${schedule.timezone ? ` (${schedule.timezone})` : ''}`;
}

function toggle(page: PageContext, schedule: JobSchedule): Html {
  const action: ScheduleAction = schedule.paused ? 'resume' : 'pause';
  return html`<form method="post" action="${page.base}/schedules">
    ${csrfField(page)}<input type="hidden" name="key" value="${schedule.key}" />
    <button
      type="submit"
      name="action"
      value="${action}"
      class="${schedule.paused ? '' : 'secondary'}"
      aria-label="${action} ${schedule.key}"
    >
      ${schedule.paused ? 'Resume' : 'Pause'}
    </button>
  </form>`;
}

/** The schedules, declared and runtime, with a pause or resume button each. */
export function schedulesPage(page: PageContext, schedules: JobSchedule[], next: number | null) {
  const rows = schedules.map(
    (schedule) =>
      html`<tr data-schedule="${schedule.key}">
        <td><a href="${page.base}/jobs/${schedule.id}">${schedule.key}</a></td>
        <td>${schedule.declared ? 'declared' : 'runtime'}</td>
        <td>
          <a class="plain" href="${page.base}?kind=${encodeURIComponent(schedule.kind)}"
            >${schedule.kind}</a
          >
        </td>
        <td>${spec(schedule)}</td>
        <td class="data" title="${dataPreview(schedule.data)}">${dataPreview(schedule.data)}</td>
        <td>${statusBadge(schedule.status)}</td>
        <td class="time">${time(schedule.nextRunAt)}</td>
        <td class="time">${time(schedule.lastRunAt)}</td>
        <td>
          ${
            schedule.lastOutcome
              ? statusBadge(schedule.lastOutcome)
              : html`<span class="muted">–</span>`
          }
        </td>
        <td>${toggle(page, schedule)}</td>
      </tr>`,
  );
  const table = schedules.length
    ? html`<div class="scroll">
        <table>
          <thead>
            <tr>
              <th>Key</th>
              <th>Origin</th>
              <th>Kind</th>
              <th>Schedule</th>
              <th>Data</th>
              <th>Status</th>
              <th>Next run</th>
              <th>Last run</th>
              <th>Last outcome</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${rows}
          </tbody>
        </table>
      </div>`
    : html`<p class="empty">No schedules.</p>`;
  return layout(
    page,
    'Schedules',
    html`<h1>Schedules</h1>
      ${table}
      <nav class="pager">
        ${next !== null ? html`<a rel="next" href="${page.base}/schedules?after=${next}">More →</a>` : ''}
      </nav>
      <p class="muted">
        A paused schedule stays paused on every instance, across restarts, until resumed; it then
        runs from its next occurrence. A declared schedule is turned off for good by removing its
        cron or every from the code.
      </p>`,
  );
}
