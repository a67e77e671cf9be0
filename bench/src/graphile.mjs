// graphile-worker 0.17 on the same PostgreSQL database as ours (schema graphile_worker).
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import { peerUrl } from './backends.mjs';

export const TASK = 'noop';
const FAR_FUTURE = new Date(4_102_444_800_000);

/** Drops graphile-worker's log lines (errors included: a failing run shows up in the counts). */
const logger = () => new Logger(() => () => undefined);

export async function graphileProducer() {
  const utils = await makeWorkerUtils({ connectionString: peerUrl(), logger: logger() });
  await utils.migrate();
  return utils;
}

/**
 * Starts a worker. `batched` is graphile-worker's fast mode (its performance docs): a local queue
 * of 500 jobs fetched in one statement, and completions batched.
 */
export async function startGraphile({ concurrency, batched, pollInterval, onStart }) {
  const worker = batched
    ? { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 }
    : {};
  const runner = await run({
    connectionString: peerUrl(),
    concurrency,
    maxPoolSize: Math.max(10, concurrency + 2),
    ...(pollInterval ? { pollInterval } : {}),
    noHandleSignals: true,
    logger: logger(),
    taskList: {
      [TASK]: async (payload, helpers) => {
        onStart(helpers.job);
      },
    },
    preset: { worker },
  });
  return { runner, addJob: (payload) => runner.addJob(TASK, payload), close: () => runner.stop() };
}

export const graphileTables = {
  reset: (db) => db.query('TRUNCATE graphile_worker._private_jobs CASCADE'),
  makeDue: (db) => db.query('UPDATE graphile_worker._private_jobs SET run_at = now()'),
  async remaining(db) {
    const [row] = await db.query('SELECT COUNT(*) AS n FROM graphile_worker._private_jobs');
    return Number(row.n);
  },
};

export async function preloadGraphile(utils, count) {
  for (let i = 0; i < count; i += 1000) {
    const n = Math.min(1000, count - i);
    await utils.addJobs(
      Array.from({ length: n }, (_, k) => ({
        identifier: TASK,
        payload: { i: i + k },
        runAt: FAR_FUTURE,
      })),
    );
  }
}

export async function graphileOneAtATime(utils, count, inFlight) {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      await utils.addJob(TASK, { i: next });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

export async function graphileBatches(utils, count, size) {
  for (let i = 0; i < count; i += size) {
    const n = Math.min(size, count - i);
    await utils.addJobs(
      Array.from({ length: n }, (_, k) => ({ identifier: TASK, payload: { i: i + k } })),
    );
  }
}
