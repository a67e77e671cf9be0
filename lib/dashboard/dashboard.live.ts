import {
  PROGRESS_DETAIL_CHARS,
  PROGRESS_LIST_CHARS,
  PROGRESS_TITLE_CHARS,
} from './dashboard.progress.js';

/** How often a page with running jobs asks for their progress. */
export const LIVE_EVERY_MS = 1_500;

/**
 * The pages' live refresh, part of the layout's one inline script (the CSP lets only it run).
 * Every element marked `data-live="<id>"` shows a running job: while any is on the page, the
 * script polls `GET api/progress?ids=` and redraws, inside each, the progress (`[data-progress]`,
 * the markup of dashboard.progress.ts built with DOM calls: values only ever become text) and the
 * status badges (`[data-status-badge]`). A job that is no longer running leaves the poll; if its
 * element asks for it (`data-live-reload`, the job's page), the page reloads once to show the
 * outcome. A 4xx ends the refresh (signed out, or the page is stale); the page keeps its values,
 * as it does without JavaScript.
 */
export const LIVE_SCRIPT = `
(function () {
  var api = document.body.getAttribute('data-api');
  function cut(text, max) { return text.length > max ? text.slice(0, max) + '\\u2026' : text; }
  function make(tag, className, text) {
    var el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }
  function drawProgress(box, job) {
    var bar = box.querySelector('progress');
    var shown = box.querySelector('.progress-value');
    if (job.percent !== null && bar && shown) {
      bar.value = job.percent;
      bar.textContent = job.percent + '%';
      shown.textContent = job.percent + '%';
      return;
    }
    box.textContent = '';
    if (job.progress === null || job.progress === undefined) {
      box.appendChild(make('span', 'muted', '\\u2013'));
    } else if (job.percent !== null) {
      bar = make('progress', '', job.percent + '%');
      bar.max = 100;
      bar.value = job.percent;
      bar.setAttribute('aria-label', 'Progress of job #' + job.id);
      box.appendChild(bar);
      box.appendChild(document.createTextNode(' '));
      box.appendChild(make('span', 'progress-value', job.percent + '%'));
    } else if (box.getAttribute('data-progress') === 'list') {
      var json = JSON.stringify(job.progress);
      var code = make('code', 'progress-json', cut(json, ${PROGRESS_LIST_CHARS}));
      code.title = cut(json, ${PROGRESS_TITLE_CHARS});
      box.appendChild(code);
    } else {
      box.appendChild(make('pre', 'progress-json', cut(JSON.stringify(job.progress, null, 2), ${PROGRESS_DETAIL_CHARS})));
    }
  }
  function drawJob(el, job) {
    el.querySelectorAll('[data-progress]').forEach(function (box) { drawProgress(box, job); });
    el.querySelectorAll('[data-status-badge]').forEach(function (badge) {
      badge.textContent = job.status;
      badge.className = 'badge ' + job.status;
    });
    if (el.hasAttribute('data-status')) el.setAttribute('data-status', job.status);
  }
  function liveIds() {
    var ids = [];
    document.querySelectorAll('[data-live]').forEach(function (el) {
      var id = el.getAttribute('data-live');
      if (ids.indexOf(id) < 0) ids.push(id);
    });
    return ids;
  }
  function apply(jobs) {
    var byId = {};
    jobs.forEach(function (job) { byId[String(job.id)] = job; });
    var reload = false;
    document.querySelectorAll('[data-live]').forEach(function (el) {
      var job = byId[el.getAttribute('data-live')];
      if (job) drawJob(el, job);
      if (!job || job.status !== 'running') {
        el.removeAttribute('data-live');
        if (el.hasAttribute('data-live-reload')) reload = true;
      }
    });
    if (reload) location.reload();
  }
  function poll() {
    var ids = liveIds();
    if (ids.length === 0) return;
    if (document.hidden) return setTimeout(poll, ${LIVE_EVERY_MS});
    fetch(api + '/progress?ids=' + ids.join(','), {
      credentials: 'same-origin',
      headers: { accept: 'application/json' },
    })
      .then(function (response) {
        if (response.ok) return response.json().then(function (body) { apply(body.jobs); return true; });
        return response.status >= 500;
      })
      .catch(function () { return true; })
      .then(function (again) { if (again) setTimeout(poll, ${LIVE_EVERY_MS}); });
  }
  if (liveIds().length) setTimeout(poll, ${LIVE_EVERY_MS});
})();
`;
