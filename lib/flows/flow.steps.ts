import {
  JOB_BATCHES_TABLE,
  JOB_DEPS_TABLE,
  JOBS_TABLE,
  WAITING_RUN_AT,
} from '../jobs.constants.js';
import { JobDependencyNotFoundError } from '../errors/jobs.errors.js';
import { ACTIVE_STATUSES, FINISHED_STATUSES } from '../jobs.states.js';
import { placeholders, type SqlResult } from '../storage/sql.js';
import type { Statement, StatementSteps } from '../storage/statement-steps.js';
import type { NewJobRow } from '../storage/job-rows.js';

/**
 * Dependencies and batches, as sequences of statements each run in one transaction (JobStore
 * runs them: serialized on SQLite in BEGIN IMMEDIATE, in a transaction elsewhere, or in the
 * caller's). The rules, in one place:
 *
 * - A job with dependencies is inserted `pending` with `deps_left` = its dependencies not yet
 *   ended and, while that is above 0, `run_at` = WAITING_RUN_AT: the plain claim never sees it.
 *   Its dependencies get `has_dependents`, so the statement that writes their end reports them
 *   (linkedSql) and only they are settled: a job without dependencies or dependents pays nothing.
 * - Settling an ended job resolves its unresolved edges, locked (`resolved` flips once), and per
 *   dependent either cancels it (a dependency failed or was cancelled, `cancel_on_failure`) or
 *   takes the resolved edges off `deps_left` in one UPDATE; the one that brings it to 0 makes the
 *   job due. So 1,000 dependencies ending at once on 4 instances release it exactly once.
 * - A batch is finished when none of its jobs is alive: whoever settles a job of it checks, after
 *   its own end is committed (so the last to end always sees the others'), and the one whose
 *   UPDATE ... WHERE finished_at IS NULL changes the row inserts the callback job, in the same
 *   transaction.
 * - Whatever a crash left unsettled, the sweep finds (JobStore.sweepFlows, from the housekeeper).
 */

/** What differs per database. */
export interface FlowSql {
  /** Locks rows read before they are written ('' on SQLite: one writer at a time). */
  rowLock: string;
  /** Appended to an INSERT so that it returns the new ids ('' where the driver says the first). */
  returningId: string;
  /** The new ids of an INSERT of `count` rows. */
  idsOf(result: SqlResult, count: number): number[];
  /** The INSERT of job rows (without the suffix). */
  insertJobs(count: number): string;
  insertValues(row: NewJobRow): unknown[];
}

/** How a dependency ended, as a dependent sees it; 'deleted' when its row is gone. */
export type DependencyEnd = 'succeeded' | 'failed' | 'cancelled' | 'deleted';

/** Rows per INSERT of jobs or edges (parameters stay far below every driver's limit). */
const ROWS_PER_INSERT = 500;
const ENDED = `(${FINISHED_STATUSES.map((status) => `'${status}'`).join(', ')})`;
const ALIVE = `(${ACTIVE_STATUSES.map((status) => `'${status}'`).join(', ')})`;

function* insertJobs(rows: NewJobRow[], sql: FlowSql): StatementSteps<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    const chunk = rows.slice(i, i + ROWS_PER_INSERT);
    const result = yield {
      text: sql.insertJobs(chunk.length) + sql.returningId,
      params: chunk.flatMap((row) => sql.insertValues(row)),
    };
    ids.push(...sql.idsOf(result, chunk.length));
  }
  return ids;
}

interface Edge {
  jobId: number;
  dependsOn: number;
  cancelOnFailure: boolean;
  /** How the dependency had ended when the edge was made, or null while it has not. */
  ended: DependencyEnd | null;
}

function* insertEdges(edges: Edge[]): StatementSteps<void> {
  for (let i = 0; i < edges.length; i += ROWS_PER_INSERT) {
    const chunk = edges.slice(i, i + ROWS_PER_INSERT);
    yield {
      text: `INSERT INTO ${JOB_DEPS_TABLE} (job_id, depends_on, cancel_on_failure, resolved, dep_status)
        VALUES ${chunk.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
      params: chunk.flatMap((edge) => [
        edge.jobId,
        edge.dependsOn,
        edge.cancelOnFailure,
        edge.ended !== null,
        edge.ended,
      ]),
    };
  }
}

function cancelStatement(ids: number[], reason: string, now: number): Statement {
  return {
    text: `UPDATE ${JOBS_TABLE} SET status = 'cancelled', active = FALSE, active_key = NULL,
      finished_at = ?, last_error = ? WHERE id IN (${placeholders(ids.length)}) AND status = 'pending'`,
    params: [now, reason, ...ids],
  };
}

function failureReason(dependency: number, end: DependencyEnd): string {
  return end === 'deleted'
    ? `cancelled: its dependency, job ${dependency}, was deleted before it ended`
    : `cancelled: its dependency, job ${dependency}, ${end === 'failed' ? 'failed' : 'was cancelled'}`;
}

/** A job to insert with its dependencies (ids of jobs that exist). */
export interface DependentJob {
  row: NewJobRow;
  dependsOn: number[];
  cancelOnFailure: boolean;
}

/**
 * Inserts jobs that depend on existing ones: the dependencies' rows are locked first (a dependency
 * ending meanwhile either ends before, and the edge is made resolved, or after, and its end reports
 * the new dependent). An unknown id throws JobDependencyNotFoundError: nothing is written. A job
 * whose dependency had already failed or been cancelled is cancelled at once (with `cancel`).
 */
export function* insertDependents(
  jobs: DependentJob[],
  sql: FlowSql,
  now: number,
): StatementSteps<number[]> {
  const all = [...new Set(jobs.flatMap((job) => job.dependsOn))].sort((a, b) => a - b);
  const found = yield {
    text: `SELECT id, status FROM ${JOBS_TABLE} WHERE id IN (${placeholders(all.length)})
      ORDER BY id ${sql.rowLock}`,
    params: all,
  };
  const status = new Map(found.rows.map((row) => [Number(row.id), String(row.status)]));
  const missing = all.filter((id) => !status.has(id));
  if (missing.length > 0) throw new JobDependencyNotFoundError(missing);
  const endOf = (id: number): DependencyEnd | null => {
    const current = status.get(id)!;
    return (FINISHED_STATUSES as readonly string[]).includes(current)
      ? (current as DependencyEnd)
      : null;
  };
  const rows = jobs.map(({ row, dependsOn }) => {
    const left = dependsOn.filter((id) => endOf(id) === null).length;
    return { ...row, dependenciesLeft: left, runAt: left > 0 ? WAITING_RUN_AT : row.runAt };
  });
  const ids = yield* insertJobs(rows, sql);
  const edges = jobs.flatMap((job, i) =>
    job.dependsOn.map((dependsOn) => ({
      jobId: ids[i],
      dependsOn,
      cancelOnFailure: job.cancelOnFailure,
      ended: endOf(dependsOn),
    })),
  );
  yield* insertEdges(edges);
  yield {
    text: `UPDATE ${JOBS_TABLE} SET has_dependents = TRUE
      WHERE id IN (${placeholders(all.length)}) AND has_dependents = FALSE`,
    params: all,
  };
  for (const [i, job] of jobs.entries()) {
    if (!job.cancelOnFailure) continue;
    const failed = job.dependsOn.find((id) => {
      const end = endOf(id);
      return end !== null && end !== 'succeeded';
    });
    if (failed !== undefined)
      yield cancelStatement([ids[i]], failureReason(failed, endOf(failed)!), now);
  }
  return ids;
}

/** One job of a flow, its parent given by index (null: the root), children before parents or not. */
export interface FlowNode {
  row: NewJobRow;
  parent: number | null;
  cancelOnFailure: boolean;
}

/**
 * Inserts a tree at once: a parent depends on its children and waits for them (`deps_left` = its
 * children); leaves are due as enqueued. Returns the ids in the order of `nodes`.
 */
export function* insertFlow(nodes: FlowNode[], sql: FlowSql): StatementSteps<number[]> {
  const children = new Array<number>(nodes.length).fill(0);
  for (const node of nodes) if (node.parent !== null) children[node.parent]++;
  const rows = nodes.map((node, i) => ({
    ...node.row,
    hasDependents: node.parent !== null,
    dependenciesLeft: children[i] > 0 ? children[i] : null,
    runAt: children[i] > 0 ? WAITING_RUN_AT : node.row.runAt,
  }));
  const ids = yield* insertJobs(rows, sql);
  const edges: Edge[] = [];
  for (const [i, node] of nodes.entries()) {
    if (node.parent === null) continue;
    edges.push({
      jobId: ids[node.parent],
      dependsOn: ids[i],
      cancelOnFailure: nodes[node.parent].cancelOnFailure,
      ended: null,
    });
  }
  yield* insertEdges(edges);
  return ids;
}

/** A job a settle made due, for wake-ups. */
export interface ReleasedJob {
  id: number;
  kind: string;
  queue: string;
  runAt: Date;
}

export interface Settled {
  /** Dependents made due. */
  released: ReleasedJob[];
  /** Dependents cancelled because a dependency failed (and theirs after them). */
  cancelled: number[];
  /** Batches finished, and their callback jobs (also in `released`). */
  batches: Array<{ id: number; callbackJobId: number | null }>;
}

/**
 * Settles the ends of these jobs (those not ended are passed over): their dependents, their own
 * dependencies' keeping, their batches. `gone`: dependencies whose rows were deleted before they
 * were settled (the sweep finds them), taken as ended badly.
 */
export function* settle(
  ids: number[],
  sql: FlowSql,
  now: number,
  gone: number[] = [],
): StatementSteps<Settled> {
  const settled: Settled = { released: [], cancelled: [], batches: [] };
  const batches = new Set<number>();
  let frontier = [...new Set(ids)];
  let missing = gone;
  // A cancelled dependent is itself an end to settle: the rounds follow the chain down.
  for (let round = 0; (frontier.length > 0 || missing.length > 0) && round < 1_000; round++) {
    const ended: Array<{ id: number; end: DependencyEnd }> = missing.map((id) => ({
      id,
      end: 'deleted',
    }));
    missing = [];
    if (frontier.length > 0) {
      const rows = yield {
        text: `SELECT id, status, has_dependents, deps_left, batch_id FROM ${JOBS_TABLE}
          WHERE id IN (${placeholders(frontier.length)}) AND status IN ${ENDED}`,
        params: frontier,
      };
      const waited: number[] = [];
      for (const row of rows.rows) {
        const id = Number(row.id);
        if (row.batch_id !== null && row.batch_id !== undefined) batches.add(Number(row.batch_id));
        if (row.deps_left !== null && row.deps_left !== undefined) waited.push(id);
        if (row.has_dependents === true || Number(row.has_dependents) === 1) {
          ended.push({ id, end: String(row.status) as DependencyEnd });
        }
      }
      // Ended itself: the jobs it waited on need no keeping for it any more (see pruneFinished).
      if (waited.length > 0) {
        yield {
          text: `UPDATE ${JOB_DEPS_TABLE} SET dependent_done = TRUE
            WHERE job_id IN (${placeholders(waited.length)}) AND dependent_done = FALSE`,
          params: waited,
        };
      }
    }
    frontier = yield* resolveDependents(ended, sql, now, settled);
  }
  for (const batch of [...batches].sort((a, b) => a - b)) {
    const done = yield* finishBatch(batch, sql, now, settled);
    if (done) settled.batches.push(done);
  }
  return settled;
}

/** Resolves the edges of these ended jobs; returns the dependents it cancelled (to settle next). */
function* resolveDependents(
  ended: Array<{ id: number; end: DependencyEnd }>,
  sql: FlowSql,
  now: number,
  settled: Settled,
): StatementSteps<number[]> {
  if (ended.length === 0) return [];
  const endOf = new Map(ended.map(({ id, end }) => [id, end]));
  const ids = [...endOf.keys()].sort((a, b) => a - b);
  const edges = yield {
    text: `SELECT job_id, depends_on, cancel_on_failure FROM ${JOB_DEPS_TABLE}
      WHERE depends_on IN (${placeholders(ids.length)}) AND resolved = FALSE
      ORDER BY job_id, depends_on ${sql.rowLock}`,
    params: ids,
  };
  if (edges.rows.length === 0) return [];
  // Flip them (locked above: no other settle flips the same edge), one statement per kind of end.
  const byEnd = new Map<DependencyEnd, number[]>();
  for (const id of ids) byEnd.set(endOf.get(id)!, [...(byEnd.get(endOf.get(id)!) ?? []), id]);
  for (const [end, of] of byEnd) {
    yield {
      text: `UPDATE ${JOB_DEPS_TABLE} SET resolved = TRUE, dep_status = ?
        WHERE depends_on IN (${placeholders(of.length)}) AND resolved = FALSE`,
      params: [end, ...of],
    };
  }
  // Per dependent: how many of its edges resolved now, and the first that ended badly (if it cares).
  const dependents = new Map<number, { resolved: number; failed: number | null }>();
  for (const row of edges.rows) {
    const jobId = Number(row.job_id);
    const dependsOn = Number(row.depends_on);
    const entry = dependents.get(jobId) ?? { resolved: 0, failed: null };
    entry.resolved++;
    const cares = row.cancel_on_failure === true || Number(row.cancel_on_failure) === 1;
    if (cares && entry.failed === null && endOf.get(dependsOn) !== 'succeeded') {
      entry.failed = dependsOn;
    }
    dependents.set(jobId, entry);
  }
  const cancelled: number[] = [];
  const byCount = new Map<number, number[]>();
  for (const [jobId, { resolved, failed }] of [...dependents].sort((a, b) => a[0] - b[0])) {
    if (failed === null) {
      byCount.set(resolved, [...(byCount.get(resolved) ?? []), jobId]);
      continue;
    }
    const result = yield {
      ...cancelStatement([jobId], failureReason(failed, endOf.get(failed)!), now),
    };
    yield {
      text: `UPDATE ${JOBS_TABLE} SET deps_left = deps_left - ? WHERE id = ?`,
      params: [resolved, jobId],
    };
    if (result.affected > 0) cancelled.push(jobId);
  }
  // The UPDATE that brings deps_left to 0 makes the job due (run_at is assigned first: MySQL reads
  // the new value of a column assigned before, and deps_left is assigned after).
  const candidates: number[] = [];
  for (const [count, jobIds] of byCount) {
    yield {
      text: `UPDATE ${JOBS_TABLE}
        SET run_at = CASE WHEN deps_left = ? AND status = 'pending' THEN ? ELSE run_at END,
          deps_left = deps_left - ?
        WHERE id IN (${placeholders(jobIds.length)})`,
      params: [count, now, count, ...jobIds],
    };
    candidates.push(...jobIds);
  }
  if (candidates.length > 0) {
    const due = yield {
      text: `SELECT id, kind, queue FROM ${JOBS_TABLE}
        WHERE id IN (${placeholders(candidates.length)}) AND deps_left = 0 AND status = 'pending' AND run_at = ?`,
      params: [...candidates, now],
    };
    for (const row of due.rows) {
      settled.released.push({
        id: Number(row.id),
        kind: String(row.kind),
        queue: String(row.queue),
        runAt: new Date(now),
      });
    }
  }
  settled.cancelled.push(...cancelled);
  return cancelled;
}

/**
 * Finishes a batch none of whose jobs is alive: its counts stored, its callback inserted (data: the
 * callback's own, with `batch`: the id and counts), once, by whoever changes the row.
 */
function* finishBatch(
  batch: number,
  sql: FlowSql,
  now: number,
  settled: Settled,
): StatementSteps<{ id: number; callbackJobId: number | null } | null> {
  const alive = yield {
    // From the newest: the jobs still alive are mostly the last enqueued (the index is on batch_id).
    text: `SELECT id FROM ${JOBS_TABLE} WHERE batch_id = ? AND status IN ${ALIVE} ORDER BY id DESC LIMIT 1`,
    params: [batch],
  };
  if (alive.rows.length > 0) return null;
  const counts = yield* batchCounts(batch);
  const changed = yield {
    text: `UPDATE ${JOB_BATCHES_TABLE} SET finished_at = ?, succeeded = ?, failed = ?, cancelled = ?
      WHERE id = ? AND finished_at IS NULL`,
    params: [now, counts.succeeded, counts.failed, counts.cancelled, batch],
  };
  if (changed.affected === 0) return null;
  const stored = yield {
    text: `SELECT total, callback FROM ${JOB_BATCHES_TABLE} WHERE id = ?`,
    params: [batch],
  };
  const callback = stored.rows[0]?.callback;
  if (callback === null || callback === undefined) return { id: batch, callbackJobId: null };
  const row = JSON.parse(String(callback)) as NewJobRow;
  const data = JSON.parse(row.data) as Record<string, unknown>;
  const summary = {
    id: batch,
    total: Number(stored.rows[0].total),
    succeeded: counts.succeeded,
    failed: counts.failed,
    cancelled: counts.cancelled,
  };
  const [callbackJobId] = yield* insertJobs(
    [{ ...row, data: JSON.stringify({ ...data, batch: summary }), runAt: now, created: now }],
    sql,
  );
  yield {
    text: `UPDATE ${JOB_BATCHES_TABLE} SET callback_job_id = ? WHERE id = ?`,
    params: [callbackJobId, batch],
  };
  settled.released.push({
    id: callbackJobId,
    kind: row.kind,
    queue: row.queue,
    runAt: new Date(now),
  });
  return { id: batch, callbackJobId };
}

/** A batch's jobs per status (those of other statuses, `paused`, do not occur). */
export function* batchCounts(
  batch: number,
): StatementSteps<Record<'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled', number>> {
  const rows = yield {
    text: `SELECT status, COUNT(*) AS n FROM ${JOBS_TABLE} WHERE batch_id = ? GROUP BY status`,
    params: [batch],
  };
  const counts = { pending: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
  for (const row of rows.rows) {
    const status = String(row.status) as keyof typeof counts;
    if (status in counts) counts[status] += Number(row.n);
  }
  return counts;
}

/** Inserts a batch row (its jobs get its id); returns the id. */
export function* insertBatch(
  total: number,
  callback: NewJobRow | null,
  sql: FlowSql,
  now: number,
): StatementSteps<number> {
  const result = yield {
    text: `INSERT INTO ${JOB_BATCHES_TABLE} (total, created, callback) VALUES (?, ?, ?)${sql.returningId}`,
    params: [total, now, callback ? JSON.stringify(callback) : null],
  };
  return sql.idsOf(result, 1)[0];
}

/**
 * What a crash or a race left unsettled: ended jobs with unresolved dependents (or deleted ones),
 * ended dependents whose dependencies are still kept for them, batches with no job alive. Three
 * reads, each of an index, when there is nothing to do.
 */
export function* sweep(sql: FlowSql, now: number): StatementSteps<Settled> {
  const unresolved = yield {
    text: `SELECT DISTINCT d.depends_on AS id, j.id AS present FROM ${JOB_DEPS_TABLE} d
      LEFT JOIN ${JOBS_TABLE} j ON j.id = d.depends_on
      WHERE d.resolved = FALSE AND (j.id IS NULL OR j.status IN ${ENDED}) LIMIT 500`,
    params: [],
  };
  const ended: number[] = [];
  const gone: number[] = [];
  for (const row of unresolved.rows) {
    (row.present === null || row.present === undefined ? gone : ended).push(Number(row.id));
  }
  const waited = yield {
    text: `SELECT DISTINCT d.job_id AS id FROM ${JOB_DEPS_TABLE} d
      LEFT JOIN ${JOBS_TABLE} j ON j.id = d.job_id
      WHERE d.dependent_done = FALSE AND (j.id IS NULL OR j.status IN ${ENDED}) LIMIT 500`,
    params: [],
  };
  const done = waited.rows.map((row) => Number(row.id));
  if (done.length > 0) {
    yield {
      text: `UPDATE ${JOB_DEPS_TABLE} SET dependent_done = TRUE WHERE job_id IN (${placeholders(done.length)})`,
      params: done,
    };
  }
  const open = yield {
    text: `SELECT b.id FROM ${JOB_BATCHES_TABLE} b WHERE b.finished_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM ${JOBS_TABLE} j WHERE j.batch_id = b.id AND j.status IN ${ALIVE})
      LIMIT 100`,
    params: [],
  };
  const settled = yield* settle(ended, sql, now, gone);
  for (const row of open.rows) {
    const finished = yield* finishBatch(Number(row.id), sql, now, settled);
    if (finished) settled.batches.push(finished);
  }
  return settled;
}

/**
 * The pending jobs a job waits on, and theirs, all the way down (a flow's children): for
 * `cancel(id, { children: true })`.
 */
export function* pendingDescendants(id: number): StatementSteps<number[]> {
  const found: number[] = [];
  const seen = new Set([id]);
  let frontier = [id];
  while (frontier.length > 0) {
    const rows = yield {
      text: `SELECT d.depends_on AS id, j.status FROM ${JOB_DEPS_TABLE} d
        JOIN ${JOBS_TABLE} j ON j.id = d.depends_on WHERE d.job_id IN (${placeholders(frontier.length)})`,
      params: frontier,
    };
    frontier = [];
    for (const row of rows.rows) {
      const child = Number(row.id);
      if (seen.has(child)) continue;
      seen.add(child);
      frontier.push(child);
      if (row.status === 'pending') found.push(child);
    }
  }
  return found;
}

/** Cancels these pending jobs (a parent's children, asked by the user). Returns those it changed. */
export function* cancelPending(ids: number[], now: number): StatementSteps<number[]> {
  if (ids.length === 0) return [];
  const before = yield {
    text: `SELECT id FROM ${JOBS_TABLE} WHERE id IN (${placeholders(ids.length)}) AND status = 'pending'`,
    params: ids,
  };
  const pending = before.rows.map((row) => Number(row.id));
  if (pending.length === 0) return [];
  yield cancelStatement(pending, 'cancelled with its parent', now);
  return pending;
}
