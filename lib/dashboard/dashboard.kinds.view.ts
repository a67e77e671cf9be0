import { JOB_STATUSES } from '../interfaces/job-context.interface.js';
import { describeLimits } from '../limits/kind-limits.js';
import { html, type Html } from './dashboard.html.js';
import { layout, time, type PageContext } from './dashboard.layout.js';
import type { KindRow } from './dashboard.types.js';

/**
 * The kinds page: each kind, whether it resolves here, whether a running instance handles it, its
 * limits, its jobs per status.
 */
export function kindsPage(page: PageContext, kinds: KindRow[]): Html {
  const rows = kinds.map(
    (kind) =>
      html`<tr data-kind="${kind.name}">
        <td><a href="${page.base}?kind=${encodeURIComponent(kind.name)}">${kind.name}</a></td>
        <td class="time">${time(kind.created)}</td>
        <td class="time">${time(kind.modified)}</td>
        <td>${kind.resolves ? 'yes' : html`<span class="badge failed">no</span>`}</td>
        <td>${handledCell(kind)}</td>
        <td data-limits>
          ${kind.limits ? describeLimits(kind.limits) : html`<span class="muted">–</span>`}
        </td>
        ${JOB_STATUSES.map((status) => html`<td><a href="${page.base}?kind=${encodeURIComponent(kind.name)}&amp;status=${status}">${kind.counts[status]}</a></td>`)}
      </tr>`,
  );
  return layout(
    page,
    'Job kinds',
    html`<h1>Job kinds</h1>
      ${
        kinds.length
          ? html`<table>
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Created</th>
                  <th>Modified</th>
                  <th>Resolves here</th>
                  <th>Handled (last said)</th>
                  <th>Limits</th>
                  ${JOB_STATUSES.map((s) => html`<th>${s}</th>`)}
                </tr>
              </thead>
              <tbody>
                ${rows}
              </tbody>
            </table>`
          : html`<p class="empty">No job kinds registered yet.</p>`
      }
      <p class="muted">
        "Resolves here": a handler for the kind is registered in the instance that served this page.
        "Limits": how many of its jobs may run at once and start per window, across every instance
        (and per group key), as the kind's code declared them at its instances' last start.
      </p>`,
  );
}

/** Whether a running instance handles the kind, and when one last said so. */
function handledCell(kind: KindRow): Html {
  const last = kind.handledAt ? time(kind.handledAt) : 'never';
  if (kind.handled) return html`yes <span class="muted">${last}</span>`;
  return html`<span class="badge failed">no handler</span> <span class="muted">${last}</span>`;
}
