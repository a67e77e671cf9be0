import type { JobStatus } from './interfaces/job-context.interface.js';

/**
 * A job's life, in one table: what moves a job from one status to another, and from which. Every
 * statement that changes a status checks its `from` here (the store's SQL, the schedule store, the
 * dashboard's buttons, the CLI), so a rule is written once.
 *
 *   pending --claim--> running --succeed--> succeeded
 *                              --fail-----> failed        (no attempts left)
 *                              --again----> pending       (retry after backoff, snooze, periodic, release, lease expired)
 *   pending | running --cancel--> cancelled
 *   failed | cancelled --retry--> pending (due now, attempts reset)
 *   pending --runNow--> pending (due now, attempts kept)
 *   pending | running --pause--> paused --resume--> pending   (schedule rows only)
 */
export const TRANSITIONS = {
  claim: { from: ['pending'], to: 'running' },
  succeed: { from: ['running'], to: 'succeeded' },
  fail: { from: ['running'], to: 'failed' },
  again: { from: ['running'], to: 'pending' },
  cancel: { from: ['pending', 'running'], to: 'cancelled' },
  retry: { from: ['failed', 'cancelled'], to: 'pending' },
  runNow: { from: ['pending'], to: 'pending' },
  pause: { from: ['pending', 'running'], to: 'paused' },
  resume: { from: ['paused'], to: 'pending' },
} as const satisfies Record<string, { from: readonly JobStatus[]; to: JobStatus }>;

export type JobTransition = keyof typeof TRANSITIONS;

/** The statuses `transition` applies to. */
export function statusesFor(transition: JobTransition): JobStatus[] {
  return [...TRANSITIONS[transition].from];
}

/** Whether a job in `status` can take `transition`. */
export function can(transition: JobTransition, status: JobStatus): boolean {
  return (TRANSITIONS[transition].from as readonly JobStatus[]).includes(status);
}

/** Statuses of a job that is still alive: it holds its dedupe key (`active_key`). */
export const ACTIVE_STATUSES: readonly JobStatus[] = ['pending', 'running', 'paused'];

/** Statuses of a job that has ended (retention prunes these). */
export const FINISHED_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

/**
 * The `active` and `active_key` columns as a status decides them: active while alive, and the
 * dedupe key held only then (a plain unique index on `active_key` lets one live job hold a key).
 */
export function activeColumns(
  status: JobStatus,
  uniqueKey: string | null,
): { active: boolean; activeKey: string | null } {
  const active = ACTIVE_STATUSES.includes(status);
  return { active, activeKey: active ? uniqueKey : null };
}

/**
 * The same in SQL, for statements whose new status is an expression (`status` the new status,
 * `key` the key to keep while active).
 */
export function activeColumnsSql(status: string, key: string, target = ''): string {
  const alive = `${status} IN (${ACTIVE_STATUSES.map((s) => `'${s}'`).join(', ')})`;
  return `${target}active = (${alive}), ${target}active_key = CASE WHEN ${alive} THEN ${key} ELSE NULL END`;
}
