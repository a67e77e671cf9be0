// One worker process of a benchmark run, forked by run.mjs. It starts one system's worker with a
// no-op handler (ours: or one doing `spec.work`, from the build `spec.dist`, its kind declared
// with `spec.kindOptions`) and reports over IPC:
// 'ready', then progress (handler starts, first start time, memory), and its figures when told to
// stop. Roles: process, latency, idle.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { clock, percentile, sleep } from './stats.mjs';
import { counter, installCounters } from './counters.mjs';

installCounters();
const spec = JSON.parse(process.argv[2]);
const send = (message) => process.send?.(message);

let count = 0;
let first = null;
const starts = new Map();
const onStart = (job) => {
  const now = clock();
  first ??= now;
  count++;
  if (spec.role === 'latency') starts.set(String(job.id), now);
  if (count % 250 === 0) send({ type: 'progress', count, first, rss: process.memoryUsage.rss() });
};

async function startWorker(options) {
  switch (spec.system) {
    case 'ours': {
      const { startOurs } = await import('./ours.mjs');
      const app = await startOurs({
        backend: spec.backend,
        variant: spec.variant,
        jobs: options.ours,
        onStart,
        work: spec.work,
        dist: spec.dist ?? undefined,
        kindOptions: spec.kindOptions ?? undefined,
      });
      return {
        close: app.close,
        enqueue: async (data, delay) =>
          (await app.service.enqueue('bench.noop', data, delay ? { delay } : undefined)).id,
      };
    }
    case 'graphile':
    case 'graphile-plain': {
      // shell 'nest': inside a Nest app with TypeORM on the same PostgreSQL, as a Nest user runs it.
      const shell =
        spec.shell === 'nest'
          ? await (
              await import('./ours.mjs')
            ).startAppShell({ backend: 'postgres', variant: 'empty' })
          : null;
      const { startGraphile } = await import('./graphile.mjs');
      const worker = await startGraphile({
        ...options.graphile,
        batched: spec.system === 'graphile',
        onStart,
      });
      return {
        close: async () => {
          await worker.close();
          await shell?.close();
        },
        enqueue: async (data) => (await worker.addJob(data)).id,
      };
    }
    case 'pgboss': {
      const { startPgboss } = await import('./pgboss.mjs');
      const worker = await startPgboss({ ...options.pgboss, onStart });
      return { close: worker.close, enqueue: (data) => worker.send(data) };
    }
    case 'bullmq-redis':
    case 'bullmq-pg': {
      const { startBullmq } = await import('./bullmq.mjs');
      const worker = await startBullmq({ ...options.bullmq, system: spec.system, onStart });
      return { close: worker.close, enqueue: (data) => worker.add(data) };
    }
    default:
      throw new Error(`unknown system ${spec.system}`);
  }
}

async function processRole() {
  const c = spec.concurrency;
  const worker = await startWorker({
    // deleteOnSuccess: `retention: { succeeded: 0 }`, a success deletes its row as graphile-worker does.
    ours: {
      concurrency: c,
      pollInterval: 100,
      ...(spec.deleteOnSuccess ? { retention: { succeeded: 0 } } : {}),
    },
    graphile: { concurrency: c, pollInterval: 100 },
    pgboss: { concurrency: c, batchSize: spec.pgbossBatch },
    bullmq: { concurrency: c },
  });
  let last = -1;
  const timer = setInterval(() => {
    if (count === last) return;
    last = count;
    send({ type: 'progress', count, first, rss: process.memoryUsage.rss() });
  }, 50);
  let cpuAtReady = null;
  process.on('message', async (message) => {
    if (message.type !== 'stop') return;
    clearInterval(timer);
    // CPU time of this process (user + system) from 'ready' to 'stop': the run, shutdown left out.
    const cpu = process.cpuUsage(cpuAtReady);
    await worker.close();
    send({
      type: 'stopped',
      count,
      first,
      statements: counter.statements,
      cpuMicros: cpu.user + cpu.system,
      maxRss: process.resourceUsage().maxRSS * 1024,
    });
    process.exit(0);
  });
  cpuAtReady = process.cpuUsage();
  send({ type: 'ready' });
}

/** Enqueue -> handler start, one job at a time with a gap, the runner idle in between. */
/** BENCH_POLL_INTERVAL: ours' `pollInterval` in the latency and idle roles (default: the module's). */
const pollOption = process.env.BENCH_POLL_INTERVAL
  ? { pollInterval: Number(process.env.BENCH_POLL_INTERVAL) }
  : {};

async function latencyRole() {
  const worker = await startWorker({
    // spec.jobs: module options of ours' trial (the latency row of `asyncClaimCommit`).
    ours: { ...pollOption, ...spec.jobs },
    graphile: { concurrency: 10 },
    // A batch large enough that each poll takes every job due: pg-boss's latency is then its poll timer.
    pgboss: { concurrency: 1, batchSize: 100 },
    // A Queue in the same process enqueues (queue.add), the Worker at concurrency 10.
    bullmq: { concurrency: 10, withQueue: true },
  });
  let enqueue = worker.enqueue;
  let producer = null;
  if (spec.cross && spec.backend === 'sqlite') {
    // Another process on the same file (runner off) enqueues: its commit reaches this runner only
    // through the file (the watch on it, or the next poll).
    producer = await startProducer();
    enqueue = producer.enqueue;
  } else if (spec.cross) {
    // Another instance (runner off) enqueues: the worker hears of it only through the database.
    const { startOurs } = await import('./ours.mjs');
    producer = await startOurs({
      backend: spec.backend,
      variant: spec.variant,
      jobs: { runner: false },
    });
    enqueue = async (data, delay) =>
      (await producer.service.enqueue('bench.noop', data, delay ? { delay } : undefined)).id;
  }
  await sleep(1500); // let the runner settle into its idle loop
  const sent = new Map();
  for (let i = 0; i < spec.count; i++) {
    const before = clock();
    const queued = await enqueue({ i }, spec.delay);
    // The producer process says when its enqueue returned (the same monotonic clock), before its
    // answer travels back here.
    const id = String(typeof queued === 'object' ? queued.id : queued);
    const returned = typeof queued === 'object' ? queued.at : clock();
    // With a delay, what counts is how late the job starts after it is due (due = before + delay).
    sent.set(id, spec.delay ? before + spec.delay : returned);
    await sleep(spec.gap);
  }
  const deadline = clock() + 15_000;
  while (starts.size < sent.size && clock() < deadline) await sleep(20);
  const latencies = [...sent]
    .filter(([id]) => starts.has(id))
    .map(([id, at]) => Math.max(0, starts.get(id) - at));
  await producer?.close();
  await worker.close();
  send({
    type: 'result',
    started: latencies.length,
    sent: sent.size,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  });
  process.exit(0);
}

/** Statements sent by an idle instance (no jobs), counted by wrapping the driver. */
async function idleRole() {
  const worker = await startWorker({
    ours: { ...pollOption },
    graphile: { concurrency: 1 },
    pgboss: { concurrency: 1, defaults: true },
    bullmq: { concurrency: 1 },
  });
  await sleep(spec.settle * 1000);
  const before = counter.statements;
  const t0 = clock();
  await sleep(spec.seconds * 1000);
  const statements = counter.statements - before;
  const seconds = (clock() - t0) / 1000;
  await worker.close();
  send({ type: 'result', statements, seconds, perSecond: statements / seconds });
  process.exit(0);
}

/**
 * A producer process (this script, role 'producer'): enqueue() asks it, and resolves with the id
 * and the moment its enqueue returned.
 */
async function startProducer() {
  const child = fork(
    fileURLToPath(import.meta.url),
    [JSON.stringify({ ...spec, role: 'producer' })],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const waiting = new Map();
  let ready;
  const started = new Promise((resolve) => (ready = resolve));
  child.on('message', (message) => {
    if (message.type === 'ready') ready();
    if (message.type === 'enqueued') waiting.get(message.n)?.({ id: message.id, at: message.at });
  });
  await started;
  let n = 0;
  return {
    enqueue: (data, delay) =>
      new Promise((resolve) => {
        waiting.set(++n, resolve);
        child.send({ type: 'enqueue', n, data, delay });
      }),
    close: async () => {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'stop' });
      await gone;
    },
  };
}

/** Enqueues what its parent asks, from an app of its own with the runner off (SQLite: one file). */
async function producerRole() {
  const { startOurs } = await import('./ours.mjs');
  const app = await startOurs({
    backend: spec.backend,
    variant: spec.variant,
    jobs: { runner: false },
  });
  process.on('message', async (message) => {
    if (message.type === 'stop') {
      await app.close();
      process.exit(0);
    }
    const options = message.delay ? { delay: message.delay } : undefined;
    const { id } = await app.service.enqueue('bench.noop', message.data, options);
    send({ type: 'enqueued', n: message.n, id: String(id), at: clock() });
  });
  send({ type: 'ready' });
}

const roles = {
  process: processRole,
  latency: latencyRole,
  idle: idleRole,
  producer: producerRole,
};
roles[spec.role]().catch((error) => {
  send({ type: 'error', message: String(error?.stack ?? error) });
  process.exit(1);
});
