/**
 * How a claim reads due jobs without walking those not yet due.
 *
 * The due index is (status, priority, run_at, id) and a claim takes `status = 'pending' AND
 * run_at <= now` in the order (priority, run_at, id). With `priority` free, `run_at <= now` cannot
 * end the index scan: the databases read every pending entry of a priority, due or not, before the
 * next priority's (PostgreSQL 15 and MariaDB 10.11 have no skip scan; SQLite only after ANALYZE).
 * A table with a million jobs delayed to next month, or waiting on dependencies (their run_at is
 * WAITING_RUN_AT), made each claim that did not fill its limit (an idle poll, a trickle of jobs,
 * the last claims of a backlog) read all of them: 50 ms on PostgreSQL, 220 ms on MariaDB.
 *
 * So the claim reads the index by ranges: for each usual priority (0 and the kinds' default
 * priorities) the range `priority = p AND run_at <= now`, which ends at the first job not yet due,
 * and between them the ranges of other priorities (`priority < p1`, `priority > p1 AND priority <
 * p2`, ..., `priority > pk`), which are empty unless some job was given another priority, and then
 * walk only that priority's entries, as before. Together they cover every priority, in claim order.
 * PostgreSQL and SQLite run them as branches of one UNION ALL under one LIMIT (a branch past the
 * limit is never read); MariaDB as one OR of ranges, which its range optimizer reads in index order.
 */

/** One range of priorities; `params` fill its `?` in order. */
export interface PriorityRange {
  sql: string;
  params: number[];
  /** One priority: `run_at <= now` ends this range. */
  single?: boolean;
  /**
   * A range between usual priorities, expected empty. Its kind filter is written so no index of
   * `kind` can serve it (PostgreSQL without column statistics planned it as a bitmap scan of every
   * pending job of the kinds, 9 ms per claim with 100,000 of them; now one probe of the due index).
   */
  gap?: boolean;
}

/** At most this many usual priorities get their own bounded range (the rest fall in the gaps). */
const MAX_USUAL_PRIORITIES = 4;

/** The ranges, in claim order, for these usual priorities (default: 0 only). */
export function priorityRanges(priorities: readonly number[] = [0]): PriorityRange[] {
  const given = priorities.length > 0 ? priorities : [0];
  const usual = [...new Set(given)].sort((a, b) => a - b).slice(0, MAX_USUAL_PRIORITIES);
  const ranges: PriorityRange[] = [{ sql: 'priority < ?', params: [usual[0]], gap: true }];
  usual.forEach((p, i) => {
    ranges.push({ sql: 'priority = ?', params: [p], single: true });
    const next = usual[i + 1];
    ranges.push(
      next === undefined
        ? { sql: 'priority > ?', params: [p], gap: true }
        : { sql: 'priority > ? AND priority < ?', params: [p, next], gap: true },
    );
  });
  return ranges;
}

/**
 * Every range as one condition, a single priority's with its own `run_at <= now` (MariaDB's form:
 * its range optimizer bounds a range by run_at only inside that range's AND, and builds no ranges
 * at all when the ranges between priorities carry the bound too: measured on MariaDB 10.11).
 */
export function anyOfRanges(ranges: readonly PriorityRange[], now: number): PriorityRange {
  return {
    sql: `(${ranges.map((range) => (range.single ? `(${range.sql} AND run_at <= ?)` : `(${range.sql})`)).join(' OR ')})`,
    params: ranges.flatMap((range) => (range.single ? [...range.params, now] : range.params)),
  };
}
