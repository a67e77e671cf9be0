// The physical reference: a bare claim-100 / complete-100 loop on our own table, in plain SQL
// through the bare driver, with no library around it. It is what the hardware and the database
// allow for this table and these indexes; the library's figures are quoted as a share of it.

function claimStatement(backend, CLAIM) {
  const due = `SELECT id FROM nest_jobs WHERE status = 'pending' AND run_at <= ? ORDER BY priority, run_at, id LIMIT ${CLAIM}`;
  const set = `SET status = 'running', locked_by = ?, locked_until = ?, attempts = attempts + 1`;
  if (backend === 'postgres') {
    return `UPDATE nest_jobs ${set} WHERE id IN (${due} FOR UPDATE SKIP LOCKED) RETURNING id, kind, data::text AS data`;
  }
  return `UPDATE nest_jobs ${set} WHERE id IN (${due}) RETURNING id, kind, data`;
}

const COMPLETE = `UPDATE nest_jobs SET status = 'succeeded', active = FALSE, finished_at = ?, locked_by = NULL, locked_until = NULL WHERE id IN `;

/** InnoDB may pick a claim as a deadlock victim when two lanes meet; it is retried, as any runner must. */
async function retryingDeadlocks(work) {
  for (;;) {
    try {
      return await work();
    } catch (error) {
      if (error?.errno !== 1213) throw error;
    }
  }
}

async function claim(db, owner, size) {
  const now = Date.now();
  if (db.backend !== 'mariadb')
    return db.query(claimStatement(db.backend, size), [owner, now + 30_000, now]);
  return retryingDeadlocks(() => claimMariadb(db, owner, now, size));
}

async function claimMariadb(db, owner, now, CLAIM) {
  // MariaDB has neither UPDATE ... RETURNING nor LIMIT in an IN subquery: lock, then mark.
  return db.transaction(async (q) => {
    const rows = await q(
      `SELECT id, kind, CAST(data AS CHAR) AS data FROM nest_jobs WHERE status = 'pending' AND run_at <= ?
       ORDER BY priority, run_at, id LIMIT ${CLAIM} FOR UPDATE SKIP LOCKED`,
      [now],
    );
    if (rows.length) {
      await q(
        `UPDATE nest_jobs SET status = 'running', locked_by = ?, locked_until = ?, attempts = attempts + 1 WHERE id IN (?)`,
        [owner, now + 30_000, rows.map((r) => r.id)],
      );
    }
    return rows;
  });
}

function complete(db, ids) {
  if (db.backend === 'mariadb')
    return retryingDeadlocks(() => db.query(`${COMPLETE} (?)`, [Date.now(), ids]));
  return db.query(`${COMPLETE} (${ids.map(() => '?').join(', ')})`, [Date.now(), ...ids]);
}

/**
 * Runs `lanes` claim/complete loops, `size` jobs per claim, until no job is due; returns how many
 * jobs they finished.
 */
export async function rawLoop(db, lanes, size = 100) {
  let done = 0;
  const lane = async (n) => {
    for (;;) {
      const rows = await claim(db, `raw-${n}`, size);
      if (rows.length === 0) return;
      for (const row of rows) JSON.parse(row.data); // what any runner must do before calling a handler
      await complete(
        db,
        rows.map((row) => row.id),
      );
      done += rows.length;
    }
  };
  await Promise.all(Array.from({ length: lanes }, (_, n) => lane(n)));
  return done;
}

/**
 * The database's own commit rate for one job row at a time: `lanes` loops, each on its own
 * connection, inserting one pending job per statement (autocommit: one commit each) until `count`
 * are in. It is what a single enqueue can reach on this machine at that many connections; the
 * library's single enqueue is quoted as a share of it (issue 17).
 */
export async function rawInsertLoop(db, count, lanes) {
  let next = 0;
  const insert = `INSERT INTO nest_jobs (kind, queue, data, status, priority, run_at, max_attempts, created)
    VALUES (?, 'default', ?, 'pending', 0, ?, 1, ?)`;
  const lane = async () => {
    while (next < count) {
      next++;
      const now = Date.now();
      await db.query(insert, ['bench.noop', JSON.stringify({ i: next }), now, now]);
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
}
