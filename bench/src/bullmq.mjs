// BullMQ 6 on two backends: the local Redis ('bullmq-redis', through ioredis) and the same
// PostgreSQL database as ours ('bullmq-pg', BullMQ's own PostgreSQL backend, schema bullmq), chosen
// as BullMQ 6 documents it: `withBackend(createPostgresBackend)` gives Queue and Worker classes
// bound to PostgreSQL, whose `connection` is a connection string; the plain `Queue` and `Worker`
// are the Redis ones. Every option is BullMQ's default except the worker's concurrency.
import { Queue, Worker, withBackend, createPostgresBackend } from 'bullmq';
import { Redis } from 'ioredis';
import { peerUrl } from './backends.mjs';

/** The queue's name; on Redis its keys are `bull:<name>:*`, which the harness deletes between trials. */
export const BULLMQ_QUEUE = 'ntj-bench-noop';
const JOB_NAME = 'noop';
export const BULLMQ_SYSTEMS = ['bullmq-redis', 'bullmq-pg'];

/** BENCH_REDIS_URL (default redis://127.0.0.1:6379): BullMQ's Redis. */
export function redisConnection() {
  const url = new URL(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
  const db = Number(url.pathname.slice(1) || 0);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    ...(db ? { db } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

/**
 * The classes and the `connection` option of one backend. `migrate`: the PostgreSQL backend
 * creates its schema only when told to (`migrate: true` on the connection, BullMQ 6's explicit
 * migration mode); the harness's producer does it once per run, the workers then find the schema.
 */
function backend(system, { migrate = false } = {}) {
  if (system === 'bullmq-redis') return { Queue, Worker, connection: redisConnection() };
  if (system === 'bullmq-pg') {
    const classes = withBackend(createPostgresBackend);
    return {
      Queue: classes.Queue,
      Worker: classes.Worker,
      connection: migrate ? { connectionString: peerUrl(), migrate: true } : peerUrl(),
    };
  }
  throw new Error(`unknown BullMQ system ${system}`);
}

/** The harness's queue (enqueues, pauses, counts), one per system. */
export async function bullmqProducer(system) {
  const { Queue: Q, connection } = backend(system, { migrate: true });
  const queue = new Q(BULLMQ_QUEUE, { connection });
  queue.on('error', () => undefined);
  await queue.waitUntilReady();
  return queue;
}

/** A Worker with `concurrency` and every other option BullMQ's default. */
export async function startBullmq({ system, concurrency, onStart, withQueue = false }) {
  const { Queue: Q, Worker: W, connection } = backend(system);
  const worker = new W(
    BULLMQ_QUEUE,
    async (job) => {
      onStart(job);
    },
    { connection, concurrency },
  );
  // Each distinct error once on stderr (the run log): a deadlock on PostgreSQL shows there.
  const seen = new Set();
  const report = (error) => {
    const message = String(error?.message ?? error).split('\n')[0];
    if (seen.has(message)) return;
    seen.add(message);
    console.error(`[${system} worker ${process.pid}] ${message}`);
  };
  worker.on('error', report);
  worker.on('failed', (job, error) => report(error));
  await worker.waitUntilReady();
  // The latency runs enqueue from the same process, as the other systems do.
  const queue = withQueue ? new Q(BULLMQ_QUEUE, { connection }) : null;
  queue?.on('error', () => undefined);
  await queue?.waitUntilReady();
  return {
    add: async (data) => (await queue.add(JOB_NAME, data)).id,
    async close() {
      await worker.close(true);
      await queue?.close();
    },
  };
}

/**
 * The harness's view of the queue, as graphileTables and pgbossTables are (their `db` argument
 * is ignored here: the queue's own API counts). The jobs preloaded for a processing run wait in
 * a paused queue (BullMQ has no "due later, then all due at once" but its pause: on Redis a flag
 * in the queue's meta hash, on PostgreSQL a row of `bullmq.meta`); `resume()` makes them all
 * available in one call, as the other systems' single UPDATE does.
 */
export function bullmqTables(system, queue, pg) {
  return {
    async reset() {
      if (system === 'bullmq-pg') {
        // TRUNCATE, not DELETE (obliterate): without autovacuum dead rows would slow later runs.
        await pg.query(
          'TRUNCATE bullmq.job, bullmq.job_dependency, bullmq.job_log, bullmq.event, bullmq.metrics, bullmq.dedup, bullmq.dedup_next, bullmq.rate_limit',
        );
      } else {
        await queue.obliterate({ force: true });
      }
      await queue.resume();
    },
    makeDue: () => queue.resume(),
    async remaining() {
      const counts = await queue.getJobCounts(
        'waiting',
        'active',
        'delayed',
        'paused',
        'prioritized',
        'waiting-children',
      );
      return Object.values(counts).reduce((sum, n) => sum + n, 0);
    },
    /** Jobs that ended failed (the no-op handler never throws: a failure is the queue's own). */
    async failed() {
      const { failed } = await queue.getJobCounts('failed');
      return failed;
    },
  };
}

export async function preloadBullmq(queue, count) {
  await queue.pause();
  await bullmqBatches(queue, count, 1000);
}

export async function bullmqOneAtATime(queue, count, inFlight) {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      await queue.add(JOB_NAME, { i: next });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

export async function bullmqBatches(queue, count, size) {
  for (let i = 0; i < count; i += size) {
    const n = Math.min(size, count - i);
    await queue.addBulk(
      Array.from({ length: n }, (_, k) => ({ name: JOB_NAME, data: { i: i + k } })),
    );
  }
}

/** The Redis server's version, for the report. */
export async function redisServerVersion() {
  const client = new Redis({ ...redisConnection(), lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    return /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? null;
  } finally {
    client.disconnect();
  }
}
