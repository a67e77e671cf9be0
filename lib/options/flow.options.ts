import type { AnyEnqueueSpec } from '../interfaces/enqueue-options.interface.js';
import { InvalidJobsOptionError } from '../errors/jobs.errors.js';
import { isJobId, knownKeys } from './options.validation.js';
import { enqueueSpecKeys } from './enqueue.options.js';

/** What a job's dependencies are, checked: ids (each once) and what a failed one does. */
export interface DependencyOptions {
  dependsOn: number[];
  cancelOnFailure: boolean;
}

/** Options a job with dependencies cannot take: its due time is when they end; it is one job. */
const NOT_WITH_DEPENDENCIES = [
  'unique',
  'periodic',
  'interval',
  'every',
  'delay',
  'runAt',
] as const;

/** `onDependencyFailure`: true for 'cancel' (the default). */
export function cancelOnFailure(where: string, value: unknown): boolean {
  if (value === undefined || value === 'cancel') return true;
  if (value === 'run') return false;
  throw new InvalidJobsOptionError(`${where}onDependencyFailure`, value, "'cancel' or 'run'");
}

/** The dependencies of a spec, checked; null for none (absent or an empty list). */
export function dependencyOptions(spec: AnyEnqueueSpec, where = ''): DependencyOptions | null {
  const value = spec.dependsOn;
  if (value === undefined) {
    if (spec.onDependencyFailure !== undefined) cancelOnFailure(where, spec.onDependencyFailure);
    return null;
  }
  if (!Array.isArray(value) || !value.every(isJobId)) {
    throw new InvalidJobsOptionError(`${where}dependsOn`, value, 'an array of job ids');
  }
  if (value.length === 0) return null;
  for (const option of NOT_WITH_DEPENDENCIES) {
    if (spec[option] !== undefined && spec[option] !== false) {
      throw new InvalidJobsOptionError(
        `${where}${option}`,
        spec[option],
        `no ${option} with dependsOn: a job with dependencies is one job, due when they have ended`,
      );
    }
  }
  return {
    dependsOn: [...new Set(value)],
    cancelOnFailure: cancelOnFailure(where, spec.onDependencyFailure),
  };
}

/** The spec without its dependency options (for the row checks, which do not know them). */
export function withoutDependencies<S extends AnyEnqueueSpec>(spec: S): S {
  const rest = { ...spec };
  delete rest.dependsOn;
  delete rest.onDependencyFailure;
  return rest;
}

/** Checks a flow spec's keys and shape, all the way down; returns its nodes, parents first. */
export function flowNodes(
  root: unknown,
  maxNodes = 100_000,
): Array<{ spec: AnyEnqueueSpec; parent: number | null; where: string }> {
  const keys = [
    ...enqueueSpecKeys().filter(
      (key) => !['dependsOn', 'unique', 'periodic', 'interval', 'every'].includes(key),
    ),
    'children',
  ];
  const nodes: Array<{ spec: AnyEnqueueSpec; parent: number | null; where: string }> = [];
  const visit = (value: unknown, parent: number | null, where: string) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new InvalidJobsOptionError(
        where,
        value,
        'an object { kind, data, ...options, children }',
      );
    }
    knownKeys(where, value, keys);
    if (nodes.length >= maxNodes) {
      throw new InvalidJobsOptionError('enqueueFlow()', nodes.length, `at most ${maxNodes} jobs`);
    }
    const { children, ...spec } = value as AnyEnqueueSpec & { children?: unknown };
    const index = nodes.push({ spec: spec as AnyEnqueueSpec, parent, where }) - 1;
    if (children === undefined) return;
    if (!Array.isArray(children)) {
      throw new InvalidJobsOptionError(`${where}.children`, children, 'an array of flow specs');
    }
    if (children.length > 0) {
      // A parent is due when its children have ended: a due time of its own would be ignored.
      for (const option of ['delay', 'runAt'] as const) {
        if (spec[option] !== undefined) {
          throw new InvalidJobsOptionError(
            `${where}.${option}`,
            spec[option],
            'no delay or runAt on a job with children: it is due when they have ended',
          );
        }
      }
    }
    cancelOnFailure(`${where}.`, spec.onDependencyFailure);
    children.forEach((child, i) => visit(child, index, `${where}.children[${i}]`));
  };
  visit(root, null, 'enqueueFlow() spec');
  return nodes;
}
