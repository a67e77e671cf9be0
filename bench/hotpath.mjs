// The experiment behind the hot-path proposals in README.md: the same bare-driver claim/complete
// loop as the raw-SQL limit, in the shapes the library could take. One lane, jobs/s, median of 3.
//   node bench/hotpath.mjs            (after `npm run bench` has created the databases)
// Shapes: claim `size` jobs in one statement, then complete them either with one UPDATE per job
// inside one transaction (what JobStore.finish does today for a batch of outcomes) or with one
// UPDATE for the whole batch.
import { connect } from './src/sql.mjs';
import * as ours from './src/ours.mjs';
import { clock, median } from './src/stats.mjs';

const N = Number(process.env.BENCH_HOTPATH_JOBS ?? 10_000);
const BACKENDS = (process.env.BENCH_HOTPATH_BACKENDS ?? 'postgres,mariadb,sqlite').split(',');

function claimSql(backend, size) {
  const due = `SELECT id FROM nest_jobs WHERE status = 'pending' AND run_at <= ? AND kind IN (?) ORDER BY priority, run_at, id LIMIT ${size}`;
  const set = `SET status = 'running', locked_by = ?, locked_until = ?, last_run = ?, attempts = attempts + 1`;
  if (backend === 'postgres')
    return `UPDATE nest_jobs ${set} WHERE id IN (${due} FOR UPDATE SKIP LOCKED) RETURNING id, kind, queue, attempts, max_attempts, data::text AS data`;
  return `UPDATE nest_jobs ${set} WHERE id IN (${due}) RETURNING id, kind, queue, attempts, max_attempts, data`;
}

async function claim(db, size) {
  const now = Date.now();
  if (db.backend !== 'mariadb')
    return db.query(claimSql(db.backend, size), ['hp', now + 30_000, now, now, ours.KIND]);
  return db.transaction(async (q) => {
    const rows = await q(
      `SELECT id, kind, queue, attempts, max_attempts, CAST(data AS CHAR) AS data FROM nest_jobs
       WHERE status = 'pending' AND run_at <= ? AND kind IN (?) ORDER BY priority, run_at, id LIMIT ${size} FOR UPDATE SKIP LOCKED`,
      [now, ours.KIND],
    );
    if (rows.length)
      await q(
        `UPDATE nest_jobs SET status = 'running', locked_by = ?, locked_until = ?, last_run = ?, attempts = attempts + 1 WHERE id IN (?)`,
        ['hp', now + 30_000, now, rows.map((r) => r.id)],
      );
    return rows;
  });
}

const FINISH_ONE = `UPDATE nest_jobs SET status = ?, active = ?, failed = ?, finished_at = ?, result = ?, locked_by = NULL, locked_until = NULL WHERE id = ? AND locked_by = ? AND status = 'running'`;

async function completeEach(db, rows) {
  const now = Date.now();
  await db.transaction(async (q) => {
    for (const row of rows)
      await q(FINISH_ONE, ['succeeded', false, false, now, null, row.id, 'hp']);
  });
}

async function completeBatch(db, rows) {
  const now = Date.now();
  const ids = rows.map((r) => r.id);
  const list = db.backend === 'mariadb' ? '(?)' : `(${ids.map(() => '?').join(', ')})`;
  await db.query(
    `UPDATE nest_jobs SET status = 'succeeded', active = FALSE, failed = FALSE, finished_at = ?, result = NULL, locked_by = NULL, locked_until = NULL
     WHERE locked_by = ? AND status = 'running' AND id IN ${list}`,
    db.backend === 'mariadb' ? [now, 'hp', ids] : [now, 'hp', ...ids],
  );
}

async function trial(backend, producer, db, size, complete) {
  await ours.oursTables.reset(db, null);
  await ours.enqueueBatches(producer.service, N, 1000);
  const t0 = clock();
  let done = 0;
  for (;;) {
    const rows = await claim(db, size);
    if (rows.length === 0) break;
    for (const row of rows) JSON.parse(row.data);
    await complete(db, rows);
    done += rows.length;
  }
  return done / ((clock() - t0) / 1000);
}

for (const backend of BACKENDS) {
  const producer = await ours.startOurs({
    backend,
    variant: 'empty',
    jobs: { runner: false },
    synchronize: backend === 'sqlite',
  });
  const db = await connect(backend, 'empty');
  const shapes = [
    ['claim 10, complete each (one UPDATE per job, one transaction)', 10, completeEach],
    ['claim 10, complete in one UPDATE', 10, completeBatch],
    ['claim 100, complete each (one UPDATE per job, one transaction)', 100, completeEach],
    ['claim 100, complete in one UPDATE', 100, completeBatch],
  ];
  const runs = new Map(shapes.map(([label]) => [label, []]));
  for (let r = 0; r < 3; r++) {
    for (const [label, size, complete] of shapes)
      runs.get(label).push(await trial(backend, producer, db, size, complete));
  }
  for (const [label] of shapes)
    console.log(
      `${backend.padEnd(9)} ${label.padEnd(66)} ${Math.round(median(runs.get(label)))
        .toLocaleString('en')
        .padStart(8)} jobs/s`,
    );
  await ours.oursTables.reset(db, null);
  await db.close();
  await producer.close();
}

// Insert shapes on PostgreSQL: what enqueueMany sends today (a multi-row VALUES with 12
// parameters a row, a new statement text per batch size) against one INSERT ... SELECT FROM
// unnest() of one array a column (a constant text, prepared once). 20 batches of 1,000 rows.
{
  const { createRequire } = await import('node:module');
  const pg = createRequire(new URL('../dist/index.js', import.meta.url))('pg');
  const { serverUrl } = await import('./src/backends.mjs');
  const client = new pg.Client(serverUrl('postgres', 'empty'));
  await client.connect();
  const columns =
    'kind, kind_id, queue, data, status, periodic, interval_ms, priority, run_at, max_attempts, created, unique_key, active_key';
  const rowOf = (i, now) => [
    ours.KIND,
    null,
    'default',
    JSON.stringify({ i }),
    false,
    null,
    0,
    now,
    5,
    now,
    null,
    null,
  ];
  const viaValues = async (rows) => {
    let n = 0;
    const tuples = rows.map(
      () =>
        `($${++n}, $${++n}, $${++n}, $${++n}, 'pending', $${++n}, $${++n}, $${++n}, $${++n}, $${++n}, $${++n}, $${++n}, $${++n})`,
    );
    const params = rows.flat();
    await client.query(
      `INSERT INTO nest_jobs (${columns}) VALUES ${tuples.join(', ')} RETURNING id`,
      params,
    );
  };
  const viaUnnest = async (rows) => {
    const arrays = Array.from({ length: 11 }, (_, j) => rows.map((row) => row[j]));
    await client.query({
      name: 'bench_insert_unnest',
      text: `INSERT INTO nest_jobs (${columns})
             SELECT k, kid, q, d::json, 'pending', p, iv, pr, ra, ma, cr, uk, uk
             FROM unnest($1::varchar[], $2::int[], $3::varchar[], $4::text[], $5::bool[], $6::bigint[], $7::int[],
                         $8::bigint[], $9::int[], $10::bigint[], $11::varchar[]) AS u(k, kid, q, d, p, iv, pr, ra, ma, cr, uk)
             RETURNING id`,
      values: arrays,
    });
  };
  const shapes = [
    ['postgres  insert 1,000 rows: multi-row VALUES (today)', viaValues],
    ['postgres  insert 1,000 rows: INSERT ... SELECT FROM unnest(arrays)', viaUnnest],
  ];
  const runs = new Map(shapes.map(([label]) => [label, []]));
  for (let r = 0; r < 3; r++) {
    for (const [label, insert] of shapes) {
      await client.query('TRUNCATE nest_jobs');
      const t0 = clock();
      for (let b = 0; b < 20; b++)
        await insert(Array.from({ length: 1000 }, (_, i) => rowOf(i, Date.now())));
      runs.get(label).push(20_000 / ((clock() - t0) / 1000));
    }
  }
  for (const [label] of shapes)
    console.log(
      `${label.padEnd(76)} ${Math.round(median(runs.get(label)))
        .toLocaleString('en')
        .padStart(8)} jobs/s`,
    );
  await client.query('TRUNCATE nest_jobs');
  await client.end();
}
