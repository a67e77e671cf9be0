import type { BackoffOption } from './jobs-module-options.interface.js';

/** Options of `@JobKind(name, options)`. */
export interface JobKindOptions {
  /** Attempts before the job stays failed. Default: the module's `maxAttempts`. */
  maxAttempts?: number;
  /** Backoff between attempts. Default: the module's `backoff`. */
  backoff?: BackoffOption;
  /** Milliseconds a run may take; then its AbortSignal fires and the run fails as timed out. */
  timeout?: number;
  /** Queue for jobs of this kind when `enqueue` does not name one. Default `'default'`. */
  queue?: string;
  /** Priority for jobs of this kind when `enqueue` does not give one (lower runs first). Default 0. */
  priority?: number;
}
