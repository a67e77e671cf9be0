// pg-boss 10 on the same PostgreSQL database as ours (schema pgboss).
import PgBoss from 'pg-boss';
import { peerUrl } from './backends.mjs';

export const QUEUE = 'noop';
const FAR_FUTURE = new Date(4_102_444_800_000);
/** pg-boss 10's smallest polling interval. */
export const PGBOSS_POLL_SECONDS = 0.5;
/** Jobs a pg-boss worker fetches per poll in the processing runs. */
export const PGBOSS_BATCH = 100;

export async function pgbossProducer() {
  const boss = new PgBoss({ connectionString: peerUrl(), supervise: false, schedule: false });
  boss.on('error', () => undefined);
  await boss.start();
  await boss.createQueue(QUEUE);
  return boss;
}

/** `concurrency` work() registrations; each fetches up to `batchSize` jobs per poll. */
export async function startPgboss({ concurrency, batchSize, defaults = false, onStart }) {
  const boss = new PgBoss({
    connectionString: peerUrl(),
    max: Math.max(10, concurrency + 2),
    ...(defaults ? {} : { supervise: false, schedule: false }),
    migrate: false,
  });
  boss.on('error', () => undefined);
  await boss.start();
  const options = defaults ? {} : { batchSize, pollingIntervalSeconds: PGBOSS_POLL_SECONDS };
  for (let i = 0; i < concurrency; i++) {
    await boss.work(QUEUE, options, async (jobs) => {
      for (const job of jobs) onStart(job);
    });
  }
  return {
    boss,
    send: (data) => boss.send(QUEUE, data),
    close: () => boss.stop({ graceful: false, wait: true, timeout: 2000 }),
  };
}

export const pgbossTables = {
  // TRUNCATE, not DELETE: the server may run without autovacuum, and dead rows would slow later runs.
  reset: (db) => db.query('TRUNCATE pgboss.job'),
  makeDue: (db) =>
    db.query(`UPDATE pgboss.job SET start_after = now() WHERE name = ? AND state = 'created'`, [
      QUEUE,
    ]),
  async remaining(db) {
    const [row] = await db.query(
      `SELECT COUNT(*) AS n FROM pgboss.job WHERE name = ? AND state < 'completed'`,
      [QUEUE],
    );
    return Number(row.n);
  },
};

export async function preloadPgboss(boss, count) {
  for (let i = 0; i < count; i += 1000) {
    const n = Math.min(1000, count - i);
    await boss.insert(
      Array.from({ length: n }, (_, k) => ({
        name: QUEUE,
        data: { i: i + k },
        startAfter: FAR_FUTURE,
      })),
    );
  }
}

export async function pgbossOneAtATime(boss, count, inFlight) {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      await boss.send(QUEUE, { i: next });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

export async function pgbossBatches(boss, count, size) {
  for (let i = 0; i < count; i += size) {
    const n = Math.min(size, count - i);
    await boss.insert(Array.from({ length: n }, (_, k) => ({ name: QUEUE, data: { i: i + k } })));
  }
}
