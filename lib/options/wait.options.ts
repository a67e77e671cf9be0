import { InvalidJobsOptionError, JobNotWaitableError } from '../errors/jobs.errors.js';
import type { EnqueueOptions } from '../interfaces/enqueue-options.interface.js';
import type { EnqueueAndWaitOptions, WaitOptions } from '../interfaces/jobs-service.interface.js';
import { knownKeys, timerDuration } from './options.validation.js';

/** How long a wait lasts when neither it nor the module's `timeout` says: 30 minutes. */
export const WAIT_BOUND = 30 * 60_000;

// A record, so that an option added to WaitOptions without adding it here fails to compile.
const WAIT_OPTIONS: Record<keyof WaitOptions, true> = { timeout: true };

/** Milliseconds a wait may last (0: no limit), as a Node timer can wait; `fallback` when not given. */
function waitTimeout(option: string, value: unknown, fallback: number): number {
  return timerDuration(option, value, fallback, 0);
}

/** The options of `waitFor()`: no key it would ignore; returns the timeout in ms (0: none). */
export function checkWaitOptions(options: WaitOptions | undefined, fallback: number): number {
  knownKeys('waitFor()', options, Object.keys(WAIT_OPTIONS));
  return waitTimeout('timeout', options?.timeout, fallback);
}

/**
 * The options of `enqueueAndWait()`, split into `enqueue()`'s (which checks them itself; the run's
 * `runTimeout` becomes its `timeout`) and the wait's `timeout`. Refuses, before anything is written, what could never be waited for: a periodic
 * job never ends, and a job added through a `manager` exists for others only once its transaction
 * commits, which a wait inside that transaction would hold off.
 */
export function splitEnqueueAndWait(
  kind: string,
  options: EnqueueAndWaitOptions | undefined,
  fallback: number,
): { enqueue: EnqueueOptions; timeout: number } {
  if (options === undefined) return { enqueue: {}, timeout: fallback };
  if (typeof options !== 'object' || options === null) {
    throw new InvalidJobsOptionError('enqueueAndWait()', options, 'an object of options');
  }
  const { timeout, runTimeout, ...rest } = options;
  const checked = waitTimeout('timeout', timeout, fallback);
  const enqueue: EnqueueOptions =
    runTimeout === undefined ? rest : { ...rest, timeout: runTimeout };
  if ('manager' in enqueue && enqueue.manager !== undefined) {
    throw new InvalidJobsOptionError(
      'manager',
      enqueue.manager,
      `none: enqueueAndWait("${kind}") cannot wait inside the transaction that adds the job; ` +
        `enqueue with { manager }, then waitFor(job.id) once it has committed`,
    );
  }
  if (enqueue.periodic === true) throw new JobNotWaitableError(null, kind);
  return { enqueue, timeout: checked };
}
