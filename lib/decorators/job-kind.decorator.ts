import { SetMetadata } from '@nestjs/common';
import { JOB_KIND_METADATA } from '../jobs.constants.js';
import { integer, jobKindName, knownKeys, positiveInteger, queueName } from '../options/index.js';
import type { JobContext } from '../interfaces/job-context.interface.js';
import type { JobKindDefaults, JobKindOptions } from '../interfaces/job-kind-options.interface.js';

export interface JobKindMetadata {
  name: string;
  options: JobKindOptions;
}

/**
 * A kind of job with its payload type: declare it once, use it in `@JobKind()` and in `enqueue()`,
 * and the compiler checks both ends. The reference is also the code's word that the kind exists: an
 * app that enqueues through it needs no handler of its own, nor a worker that started before. Its
 * `defaults` (maxAttempts, queue, priority) apply wherever it is used, with or without the handler.
 *
 *     export const SendDigest = defineJobKind<{ userId: string }>('digest.send', { maxAttempts: 1 });
 *     @JobKind(SendDigest) send(job: JobContext<{ userId: string }>) { ... }
 *     await jobs.enqueue(SendDigest, { userId: 'u1' });
 */
export interface JobKindRef<T> {
  readonly name: string;
  /** Defaults of this kind's jobs; `@JobKind(ref, options)` may override them for its handler. */
  readonly defaults?: Readonly<JobKindDefaults>;
  /** Carries the payload type; never set at run time. */
  readonly __payload?: (payload: T) => void;
}

export function defineJobKind<T>(name: string, defaults: JobKindDefaults = {}): JobKindRef<T> {
  const kind = jobKindName('defineJobKind() name', name);
  knownKeys(`defineJobKind("${kind}")`, defaults, ['maxAttempts', 'queue', 'priority']);
  const at = (option: string) => `${option} of job kind "${kind}"`;
  const checked: JobKindDefaults = {};
  if (defaults.maxAttempts !== undefined) {
    checked.maxAttempts = positiveInteger(at('maxAttempts'), defaults.maxAttempts, 1);
  }
  if (defaults.queue !== undefined) checked.queue = queueName(at('queue'), defaults.queue);
  if (defaults.priority !== undefined) {
    checked.priority = integer(at('priority'), defaults.priority, 0);
  }
  return Object.freeze({ name: kind, defaults: Object.freeze(checked) });
}

/** The defaults a kind given by reference carries (none for a name). */
export function kindDefaults(
  kind: string | { readonly name: string },
): JobKindDefaults | undefined {
  return typeof kind === 'string' ? undefined : (kind as JobKindRef<unknown>).defaults;
}

/** The name of a kind given by name or by reference. */
export function kindName(kind: string | { readonly name: string }): string {
  return typeof kind === 'string' ? kind : kind.name;
}

type Handler<T> = (job: JobContext<T>) => unknown;

/**
 * Marks a method of a singleton provider as the handler of a kind of job. The method receives a
 * `JobContext`; a string it returns is appended to the job's logs, other values are kept as the
 * job's result; a thrown error fails the run (retried with backoff up to `maxAttempts`).
 * Given a `defineJobKind()` reference, the method's `JobContext` must match its payload type.
 */
export function JobKind<T>(
  kind: JobKindRef<T>,
  options?: JobKindOptions,
): <M extends Handler<T>>(
  target: object,
  key: string | symbol,
  descriptor: TypedPropertyDescriptor<M>,
) => void;
export function JobKind(kind: string, options?: JobKindOptions): MethodDecorator;
export function JobKind(
  kind: string | { readonly name: string },
  options: JobKindOptions = {},
): MethodDecorator {
  return SetMetadata<string, JobKindMetadata>(JOB_KIND_METADATA, {
    name: kindName(kind),
    options: { ...kindDefaults(kind), ...options },
  });
}
