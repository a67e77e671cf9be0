import { PLOT_BOTTOM, PLOT_TOP } from './dashboard.chart.js';
import {
  PROGRESS_DETAIL_CHARS,
  PROGRESS_LIST_CHARS,
  PROGRESS_TITLE_CHARS,
} from './dashboard.progress.js';

/** How often a page with running jobs asks for their progress. */
export const LIVE_EVERY_MS = 1_500;

/**
 * The pages' live refresh, part of the layout's one inline script (the CSP lets only it run). It
 * reads the JSON API and writes values into the page with DOM calls only: a value from JSON only
 * ever becomes text (`textContent`) or a number attribute, never markup. Three tasks, each only
 * where its page has something to refresh:
 *
 * - running jobs (`data-live="<id>"`): `GET api/progress?ids=` every LIVE_EVERY_MS redraws their
 *   progress (`[data-progress]`, the markup of dashboard.progress.ts) and status badges
 *   (`[data-status-badge]`); a job no longer running leaves the poll, and the job's page
 *   (`data-live-reload`) reloads once to show the outcome;
 * - counts and chart (`[data-count]`, `[data-chart]`): `GET api/stats` every `data-refresh` ms;
 * - the list's first page (`[data-live-list]`): `GET api/jobs` with the list's query every
 *   `data-refresh` ms updates the rows shown (status, attempts, last run, progress) and says how many
 *   newer jobs match, with a link that shows them (rows are never built here: a reload does that).
 *
 * Every task stops while the tab is hidden (`visibilitychange`: no request at all) and runs at once
 * when it is shown again; `data-live-state` on the body says which. A 4xx ends a task (signed out,
 * or the page is stale); the page keeps its values, as it does without JavaScript. Once a form is
 * sent (an action), the tasks stop and the page never reloads itself: the action's answer is the
 * next page, and a reload (a cancelled job's page seeing it end) would replace it, flash and all.
 */
export const LIVE_SCRIPT = `
(function () {
  var body = document.body;
  var api = body.getAttribute('data-api');
  var every = Number(body.getAttribute('data-refresh')) || 5000;
  var tasks = [];
  var leaving = false;
  document.addEventListener('submit', function (event) {
    if (!event.defaultPrevented) leaving = true;
  });
  function cut(text, max) { return text.length > max ? text.slice(0, max) + '\\u2026' : text; }
  function make(tag, className, text) {
    var el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }
  function getJson(path) {
    return fetch(api + path, { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (response) {
        if (response.ok) return response.json();
        throw { again: response.status >= 500 };
      });
  }
  function task(interval, run) {
    var t = { interval: interval, run: run, timer: null, ended: false };
    tasks.push(t);
    wait(t);
  }
  function wait(t) {
    if (t.ended || document.hidden) return;
    t.timer = setTimeout(function () { step(t); }, t.interval);
  }
  function step(t) {
    t.timer = null;
    if (document.hidden || leaving) return;
    t.run().then(
      function (again) { if (again === false) t.ended = true; wait(t); },
      function (error) { if (!(error && error.again === false)) wait(t); else t.ended = true; }
    );
  }
  document.addEventListener('visibilitychange', function () {
    body.setAttribute('data-live-state', document.hidden ? 'paused' : 'live');
    tasks.forEach(function (t) {
      if (t.timer !== null) { clearTimeout(t.timer); t.timer = null; }
      if (!document.hidden && !t.ended) step(t);
    });
  });
  body.setAttribute('data-live-state', document.hidden ? 'paused' : 'live');

  function timeText(el, ms) {
    el.textContent = '';
    if (ms === null || ms === undefined) { el.appendChild(make('span', 'muted', '\\u2013')); return; }
    var iso = new Date(ms).toISOString();
    var time = make('time', '', iso.slice(0, 19).replace('T', ' '));
    time.setAttribute('datetime', iso);
    el.appendChild(time);
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
  function percentOf(progress) {
    if (typeof progress !== 'number' || !isFinite(progress)) return null;
    return Math.round(Math.min(100, Math.max(0, progress)) * 10) / 10;
  }
  function drawJob(el, job) {
    el.querySelectorAll('[data-progress]').forEach(function (box) { drawProgress(box, job); });
    el.querySelectorAll('[data-status-badge]').forEach(function (badge) {
      badge.textContent = job.status;
      badge.className = 'badge ' + job.status;
    });
    if (el.hasAttribute('data-status')) el.setAttribute('data-status', job.status);
  }

  // Running jobs' progress.
  function liveIds() {
    var ids = [];
    document.querySelectorAll('[data-live]').forEach(function (el) {
      var id = el.getAttribute('data-live');
      if (ids.indexOf(id) < 0) ids.push(id);
    });
    return ids;
  }
  function applyProgress(jobs) {
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
    if (reload && !leaving) location.reload();
  }
  if (liveIds().length) {
    task(${LIVE_EVERY_MS}, function () {
      var ids = liveIds();
      if (ids.length === 0) return Promise.resolve(false);
      return getJson('/progress?ids=' + ids.join(',')).then(function (answer) {
        applyProgress(answer.jobs);
        return liveIds().length > 0;
      });
    });
  }

  // Counts and the chart.
  var chart = document.querySelector('[data-chart]');
  function drawChart(buckets) {
    var top = 1, ok = 0, ko = 0;
    buckets.forEach(function (b) { top = Math.max(top, b.succeeded + b.failed); ok += b.succeeded; ko += b.failed; });
    var plot = ${PLOT_BOTTOM} - ${PLOT_TOP};
    buckets.forEach(function (b, i) {
      var okHeight = (b.succeeded / top) * plot, koHeight = (b.failed / top) * plot;
      var bar = chart.querySelector('[data-bar="' + i + '"]');
      if (!bar) return;
      var rects = bar.querySelectorAll('rect');
      rects[0].setAttribute('y', (${PLOT_BOTTOM} - okHeight).toFixed(1));
      rects[0].setAttribute('height', okHeight.toFixed(1));
      rects[1].setAttribute('y', (${PLOT_BOTTOM} - okHeight - koHeight).toFixed(1));
      rects[1].setAttribute('height', koHeight.toFixed(1));
      var clock = new Date(b.minute).toISOString().slice(11, 16);
      bar.querySelector('title').textContent = clock + ' UTC: ' + b.succeeded + ' succeeded, ' + b.failed + ' failed';
      if (i === 0) chart.querySelector('[data-chart-first]').textContent = clock;
      if (i === buckets.length - 1) chart.querySelector('[data-chart-last]').textContent = clock + ' UTC';
    });
    chart.querySelector('[data-chart-top]').textContent = String(top);
    chart.querySelector('[data-total="ok"]').textContent = String(ok);
    chart.querySelector('[data-total="ko"]').textContent = String(ko);
    chart.querySelector('svg').setAttribute('aria-label', 'Jobs finished per minute over the last hour: ' + ok + ' succeeded, ' + ko + ' failed');
  }
  if (document.querySelector('[data-count]') || chart) {
    task(every, function () {
      return getJson('/stats' + location.search).then(function (stats) {
        Object.keys(stats.counts).forEach(function (status) {
          var el = document.querySelector('[data-count="' + status + '"]');
          if (el) el.textContent = String(stats.counts[status]);
        });
        if (chart) drawChart(stats.finishedPerMinute);
      });
    });
  }

  // The list's first page: its rows' fields, and how many newer jobs match.
  var list = document.querySelector('[data-live-list]');
  function drawRow(row, job) {
    drawJob(row, { id: job.id, status: job.status, progress: job.progress, percent: percentOf(job.progress) });
    var attempts = row.querySelector('[data-cell="attempts"]');
    if (attempts) attempts.textContent = job.attempts + ' / ' + job.maxAttempts;
    var lastRun = row.querySelector('[data-cell="last-run"]');
    if (lastRun) timeText(lastRun, job.lastRun === null ? null : Date.parse(job.lastRun));
    if (job.status !== 'running') row.removeAttribute('data-live');
  }
  if (list) {
    var query = list.getAttribute('data-live-list');
    var notice = list;
    task(every, function () {
      return getJson('/jobs' + query).then(function (page) {
        var shown = {};
        document.querySelectorAll('tr[data-job]').forEach(function (row) { shown[row.getAttribute('data-job')] = row; });
        var fresh = 0;
        var highest = 0;
        Object.keys(shown).forEach(function (id) { highest = Math.max(highest, Number(id)); });
        page.jobs.forEach(function (job) {
          var row = shown[String(job.id)];
          if (row) drawRow(row, job);
          else if (job.id > highest) fresh++;
        });
        notice.hidden = fresh === 0;
        notice.querySelector('a').textContent = fresh === 1 ? '1 new job: show it' : fresh + ' new jobs: show them';
      });
    });
  }
})();
`;
