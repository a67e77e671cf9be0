import { html, type Html } from './dashboard.html.js';

/**
 * A job's progress as the pages show it: what its handler last reported with `job.progress()`.
 * A number is a percentage by convention: a <progress> bar (its implicit role is progressbar, its
 * value read out by screen readers) with the number as text, clamped to 0-100. Any other JSON value
 * is shown as JSON text, cut short in the list. The live script (dashboard.live.ts) draws the same
 * markup from the API's `percent` and `progress`, so a refreshed cell looks like a rendered one.
 */

/** Characters of a JSON progress a list cell shows; its title holds more. */
export const PROGRESS_LIST_CHARS = 60;
export const PROGRESS_TITLE_CHARS = 300;
/** Characters of a JSON progress the job's page shows. */
export const PROGRESS_DETAIL_CHARS = 10_000;

/** Where the progress is shown: a list cell (one line) or the job's page (pretty JSON). */
export type ProgressPlace = 'list' | 'detail';

/** The bar's value: a number clamped to 0-100 and rounded to a tenth; null when it is not a number. */
export function percentOf(progress: unknown): number | null {
  if (typeof progress !== 'number' || !Number.isFinite(progress)) return null;
  return Math.round(Math.min(100, Math.max(0, progress)) * 10) / 10;
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The markup of one progress value; every part of the value goes through the one escape. */
export function progressView(id: number, progress: unknown, place: ProgressPlace): Html {
  const percent = percentOf(progress);
  let inner: Html;
  if (progress === null || progress === undefined) {
    inner = html`<span class="muted">–</span>`;
  } else if (percent !== null) {
    inner = html`<progress max="100" value="${percent}" aria-label="Progress of job #${id}">
        ${percent}%
      </progress>
      <span class="progress-value">${percent}%</span>`;
  } else if (place === 'list') {
    const json = JSON.stringify(progress);
    inner = html`<code class="progress-json" title="${cut(json, PROGRESS_TITLE_CHARS)}"
      >${cut(json, PROGRESS_LIST_CHARS)}</code
    >`;
  } else {
    const pretty = cut(JSON.stringify(progress, null, 2), PROGRESS_DETAIL_CHARS);
    inner = html`<pre class="progress-json">${pretty}</pre>`;
  }
  return html`<div class="progress" data-progress="${place}" data-job-id="${id}">${inner}</div>`;
}
