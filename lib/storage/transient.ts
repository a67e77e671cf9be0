/**
 * Errors that say "try again", not "this is wrong": a deadlock or a lock wait that timed out. Two
 * transactions touching the same rows in a different order can deadlock (InnoDB picks one to roll
 * back; PostgreSQL too); the statement did nothing and is safe to repeat.
 */
const TRANSIENT_CODES = new Set([
  '40P01', // PostgreSQL deadlock_detected
  '40001', // serialization_failure
  '55P03', // lock_not_available
  'ER_LOCK_DEADLOCK', // MySQL/MariaDB 1213
  'ER_LOCK_WAIT_TIMEOUT', // 1205
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
]);
const TRANSIENT_ERRNOS = new Set([1213, 1205]);

export function isTransient(error: unknown): boolean {
  for (const candidate of [error, (error as { driverError?: unknown })?.driverError]) {
    const { code, errno } = (candidate ?? {}) as { code?: unknown; errno?: unknown };
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
    if (typeof errno === 'number' && TRANSIENT_ERRNOS.has(errno)) return true;
  }
  return false;
}

/** Runs `work`, again after a short random pause when it fails transiently (at most `attempts` times). */
export async function retryTransient<T>(work: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !isTransient(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
    }
  }
}
