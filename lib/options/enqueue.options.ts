import type { EnqueueOptions } from '../interfaces/enqueue-options.interface.js';
import type { JobKindOptions } from '../interfaces/job-kind-options.interface.js';
import type { ListJobsFilter } from '../interfaces/jobs-service.interface.js';
import { InvalidJobsOptionError } from '../errors/jobs.errors.js';
import { integer, knownKeys, storableText } from './options.validation.js';
import { INT32_MAX } from './options.bounds.js';

// Records rather than lists: adding an option to an interface without adding it here fails to
// compile, so a new option can never be refused as unknown by mistake.
const ENQUEUE_OPTIONS: Record<keyof EnqueueOptions, true> = {
  delay: true,
  runAt: true,
  priority: true,
  maxAttempts: true,
  queue: true,
  periodic: true,
  interval: true,
  every: true,
  unique: true,
  timeout: true,
  backoff: true,
  group: true,
  dependsOn: true,
  onDependencyFailure: true,
  manager: true,
};

const KIND_OPTIONS: Record<keyof JobKindOptions, true> = {
  maxAttempts: true,
  backoff: true,
  timeout: true,
  queue: true,
  priority: true,
  cron: true,
  timezone: true,
  every: true,
  missed: true,
  concurrency: true,
  rateLimit: true,
  group: true,
};

const LIST_FILTER: Record<keyof ListJobsFilter, true> = {
  status: true,
  kind: true,
  queue: true,
  periodic: true,
  active: true,
  failed: true,
  order: true,
  after: true,
  limit: true,
};

const SPEC_KEYS: ReadonlySet<string> = new Set([
  'kind',
  'data',
  ...Object.keys(ENQUEUE_OPTIONS).filter((key) => key !== 'manager'),
]);
const ENQUEUE_OPTION_KEYS: ReadonlySet<string> = new Set(Object.keys(ENQUEUE_OPTIONS));

/** The keys an enqueue spec (of `enqueueMany()`, a flow, a batch) may have. */
export function enqueueSpecKeys(): string[] {
  return [...SPEC_KEYS];
}

/** The options of `enqueue()`: no key it would ignore. */
export function checkEnqueueOptionKeys(options: object | undefined): void {
  knownKeys('enqueue()', options, ENQUEUE_OPTION_KEYS);
}

/** The specs of `enqueueMany()`: objects with no key they would ignore (`manager` goes in its second argument). */
export function checkEnqueueSpecs(specs: unknown): void {
  if (!Array.isArray(specs)) {
    throw new InvalidJobsOptionError(
      'specs of enqueueMany()',
      specs,
      'an array of { kind, data, ...options }',
    );
  }
  specs.forEach((spec: unknown, i) => {
    const where = `enqueueMany() spec [${i}]`;
    if (typeof spec !== 'object' || spec === null) {
      throw new InvalidJobsOptionError(where, spec, 'an object { kind, data, ...options }');
    }
    knownKeys(where, spec, SPEC_KEYS);
  });
}

export function checkKindOptionKeys(kind: string, options: object | undefined): void {
  knownKeys(`@JobKind("${kind}")`, options, Object.keys(KIND_OPTIONS));
}

/** `list()`'s filter: known keys, and a cursor the id column can hold. */
export function checkListFilter(filter: ListJobsFilter | undefined): void {
  knownKeys('list()', filter, Object.keys(LIST_FILTER));
  for (const name of ['kind', 'queue'] as const) {
    const value = filter?.[name];
    if (value !== undefined && (typeof value !== 'string' || !storableText(value))) {
      throw new InvalidJobsOptionError(name, value, 'a string without NUL or lone surrogates');
    }
  }
  integer('after', filter?.after, 0, 0, INT32_MAX);
  integer('limit', filter?.limit, 100, 1, Number.MAX_SAFE_INTEGER); // more than 1,000 reads 1,000
}
