import type { JobBatch } from '../interfaces/jobs-service.interface.js';
import { html, type Html } from './dashboard.html.js';
import { layout, time, type PageContext } from './dashboard.layout.js';
import { listQueryString } from './dashboard.params.js';
import { percentOf } from './dashboard.progress.js';

/** The statuses a batch counts, in the order its page shows them. */
const BATCH_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'] as const;

/** Its jobs that have ended (succeeded, failed or cancelled), of its total. */
export function batchEnded(batch: JobBatch): number {
  return batch.succeeded + batch.failed + batch.cancelled;
}

/**
 * A batch (`enqueueBatch`): its jobs per status (each a link to them in the list), a bar of those
 * ended, its times and its callback job. Once it has finished, the counts are those stored then
 * (its jobs may since have been pruned or retried), as `JobsService.batch()` gives them.
 */
export function batchPage(page: PageContext, batch: JobBatch): Html {
  const list = (status?: (typeof BATCH_STATUSES)[number]) =>
    `${page.base}${listQueryString({ batch: batch.id, status })}`;
  const ended = batchEnded(batch);
  const percent = percentOf(batch.total === 0 ? 100 : (ended / batch.total) * 100) ?? 0;
  const counts = html`<ul class="counts">
    <li>
      <a href="${list()}"
        ><span class="badge">total <span data-batch-count="total">${batch.total}</span></span></a
      >
    </li>
    ${BATCH_STATUSES.map(
      (status) =>
        html`<li>
          <a href="${list(status)}"
            ><span class="badge ${status}"
              >${status} <span data-batch-count="${status}">${batch[status]}</span></span
            ></a
          >
        </li>`,
    )}
  </ul>`;
  const bar = html`<div class="progress batch-progress" data-batch-progress="${percent}">
    <progress max="${batch.total}" value="${ended}" aria-label="Jobs of batch #${batch.id} ended">
      ${percent}%
    </progress>
    <span class="progress-value">${ended} of ${batch.total} ended (${percent}%)</span>
  </div>`;
  const state = batch.finishedAt
    ? html`<span class="badge succeeded" data-batch-state="finished">finished</span>`
    : html`<span class="badge running" data-batch-state="open">open</span>`;
  const fields = html`<dl>
    <dt>State</dt>
    <dd>${state}</dd>
    <dt>Progress</dt>
    <dd>${bar}</dd>
    <dt>Created</dt>
    <dd>${time(batch.createdAt)}</dd>
    <dt>Finished</dt>
    <dd>${time(batch.finishedAt)}</dd>
    <dt>Callback job</dt>
    <dd data-callback>
      ${
        batch.callbackJobId === null
          ? html`<span class="muted"
              >${batch.finishedAt ? 'none' : 'none yet (enqueued when the batch finishes, if it has one)'}</span
            >`
          : html`<a href="${page.base}/jobs/${batch.callbackJobId}">#${batch.callbackJobId}</a>`
      }
    </dd>
    <dt>Jobs</dt>
    <dd><a href="${list()}" data-batch-jobs>List the jobs of this batch</a></dd>
  </dl>`;
  return layout(
    page,
    `Batch #${batch.id}`,
    html`<h1>Batch #${batch.id} ${state}</h1>
      ${counts}${fields}
      ${
        batch.finishedAt
          ? html`<p class="note">
              The counts are those of when the batch finished: its jobs may since have been pruned
              or retried.
            </p>`
          : ''
      }`,
  );
}
