import { html, type Html } from './dashboard.html.js';
import type { MinuteBucket } from './dashboard.types.js';

const WIDTH = 720;
const HEIGHT = 140;
export const PLOT_TOP = 12;
export const PLOT_BOTTOM = 116;
const LEFT = 40;

function clock(date: Date): string {
  return date.toISOString().slice(11, 16);
}

/** Stacked bars, one per minute: succeeded below, failed on top. Inline SVG, nothing loaded. */
export function finishedChart(buckets: MinuteBucket[]): Html {
  const top = Math.max(1, ...buckets.map((b) => b.succeeded + b.failed));
  const slot = (WIDTH - LEFT - 8) / Math.max(1, buckets.length);
  const scale = (n: number) => (n / top) * (PLOT_BOTTOM - PLOT_TOP);
  const totals = buckets.reduce((sum, b) => ({ ok: sum.ok + b.succeeded, ko: sum.ko + b.failed }), {
    ok: 0,
    ko: 0,
  });
  const bars = buckets.map((bucket, i) => {
    const x = (LEFT + i * slot + 1).toFixed(1);
    const w = Math.max(1, slot - 2).toFixed(1);
    const ok = scale(bucket.succeeded);
    const ko = scale(bucket.failed);
    const label = `${clock(bucket.minute)} UTC: ${bucket.succeeded} succeeded, ${bucket.failed} failed`;
    return html`<g data-bar="${i}"
      ><title>${label}</title
      ><rect
        class="ok"
        x="${x}"
        y="${(PLOT_BOTTOM - ok).toFixed(1)}"
        width="${w}"
        height="${ok.toFixed(1)}"
      ></rect
      ><rect
        class="ko"
        x="${x}"
        y="${(PLOT_BOTTOM - ok - ko).toFixed(1)}"
        width="${w}"
        height="${ko.toFixed(1)}"
      ></rect
    ></g>`;
  });
  const first = buckets[0]?.minute;
  const last = buckets[buckets.length - 1]?.minute;
  return html`<figure class="chart" data-chart>
    <svg
      xmlns="http://www.w3.org/2000/svg"
      viewBox="0 0 ${WIDTH} ${HEIGHT}"
      role="img"
      aria-label="Jobs finished per minute over the last hour: ${totals.ok} succeeded, ${totals.ko} failed"
    >
      <line
        class="axis"
        x1="${LEFT}"
        y1="${PLOT_BOTTOM}"
        x2="${WIDTH - 8}"
        y2="${PLOT_BOTTOM}"
      ></line>
      <line class="grid" x1="${LEFT}" y1="${PLOT_TOP}" x2="${WIDTH - 8}" y2="${PLOT_TOP}"></line>
      <text x="${LEFT - 6}" y="${PLOT_TOP + 4}" text-anchor="end" data-chart-top>${top}</text>
      <text x="${LEFT - 6}" y="${PLOT_BOTTOM + 4}" text-anchor="end">0</text>
      ${bars}
      <text x="${LEFT}" y="${HEIGHT - 6}" data-chart-first>${first ? clock(first) : ''}</text>
      <text x="${WIDTH - 8}" y="${HEIGHT - 6}" text-anchor="end" data-chart-last>
        ${last ? clock(last) : ''} UTC
      </text>
    </svg>
    <figcaption>
      Finished per minute, last hour: <span class="swatch ok"></span>
      <span data-total="ok">${totals.ok}</span> succeeded <span class="swatch ko"></span>
      <span data-total="ko">${totals.ko}</span> failed
    </figcaption>
  </figure>`;
}
