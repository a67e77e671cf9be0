import type { EntityManager } from 'typeorm';
import type { JobEntity } from '../entities/job.entity.js';
import { InvalidJobsOptionError, JobNotFoundError } from '../errors/jobs.errors.js';
import type { AnyEnqueueSpec } from '../interfaces/enqueue-options.interface.js';
import type {
  EnqueueBatchOptions,
  FlowSpec,
  JobBatch,
  JobBatchHandle,
  JobFlow,
} from '../interfaces/jobs-service.interface.js';
import { WAITING_RUN_AT } from '../jobs.constants.js';
import { entityOf } from '../jobs.rows.js';
import {
  cancelOnFailure,
  checkEnqueueSpecs,
  dependencyOptions,
  flowNodes,
  lookupId,
  withoutDependencies,
} from '../options/index.js';
import type { JobStore } from '../storage/job.store.js';
import type { NewJobRow } from '../storage/job-rows.js';

/** What the flows need of the service: its row checks, its reads and its announcements. */
export interface FlowDoors {
  /** Checked rows of these specs (unknown kinds refused; declared ones registered in `manager`). */
  rowsOf(specs: AnyEnqueueSpec[], manager?: EntityManager): Promise<NewJobRow[]>;
  /** The jobs of these ids, in that order (in `manager`'s transaction if given). */
  read(ids: number[], manager?: EntityManager): Promise<JobEntity[]>;
  /** Tells listeners of new jobs and wakes whoever runs those due. */
  announce(jobs: JobEntity[], manager?: EntityManager): void;
}

/**
 * `dependsOn`, `enqueueFlow`, `enqueueBatch` and `batch` for JobsService: every check before any
 * statement, then one transaction per call (JobStore, lib/flows/flow.steps.ts).
 */
export class JobFlows {
  constructor(
    private readonly store: JobStore,
    private readonly doors: FlowDoors,
  ) {}

  /** Whether any of these specs has dependencies (then they go through `enqueueDependents`). */
  static anyDependencies(specs: AnyEnqueueSpec[]): boolean {
    return specs.some((spec) => spec.dependsOn !== undefined);
  }

  /** Enqueues specs of which some have `dependsOn`, in one transaction; returns them in order. */
  async enqueueDependents(
    specs: AnyEnqueueSpec[],
    manager?: EntityManager,
    where = (i: number) => (specs.length === 1 ? '' : `spec [${i}] `),
  ): Promise<JobEntity[]> {
    const dependencies = specs.map((spec, i) => dependencyOptions(spec, where(i)));
    const rows = await this.doors.rowsOf(specs.map(withoutDependencies), manager);
    for (const row of rows) {
      if (row.uniqueKey !== null) {
        throw new InvalidJobsOptionError('unique', true, 'not in a call that has dependsOn');
      }
    }
    const ids = await this.store.insertDependents(
      rows.map((row, i) => ({
        row,
        dependsOn: dependencies[i]?.dependsOn ?? [],
        cancelOnFailure: dependencies[i]?.cancelOnFailure ?? true,
      })),
      manager,
    );
    const jobs = await this.doors.read(ids, manager);
    this.doors.announce(jobs, manager);
    return jobs;
  }

  /** A tree of jobs, each parent after its children, in one transaction. */
  async enqueueFlow<T>(spec: FlowSpec<T>, manager?: EntityManager): Promise<JobFlow<T>> {
    const nodes = flowNodes(spec);
    const rows = await this.doors.rowsOf(
      nodes.map((node) => withoutDependencies(node.spec)),
      manager,
    );
    const ids = await this.store.insertFlow(
      nodes.map((node, i) => ({
        row: rows[i],
        parent: node.parent,
        cancelOnFailure: cancelOnFailure('', node.spec.onDependencyFailure),
      })),
      manager,
    );
    const children = nodes.map(() => 0);
    for (const node of nodes) if (node.parent !== null) children[node.parent]++;
    const flows: JobFlow[] = nodes.map((node, i) => ({
      job: entityOf(ids[i], {
        ...rows[i],
        hasDependents: node.parent !== null,
        dependenciesLeft: children[i] > 0 ? children[i] : null,
        runAt: children[i] > 0 ? WAITING_RUN_AT : rows[i].runAt,
      }),
      children: [],
    }));
    for (const [i, node] of nodes.entries()) {
      if (node.parent !== null) flows[node.parent].children.push(flows[i]);
    }
    this.doors.announce(
      flows.map((flow) => flow.job),
      manager,
    );
    return flows[0] as JobFlow<T>;
  }

  /** Jobs that finish together: the callback, if any, is enqueued once when the last has ended. */
  async enqueueBatch(
    specs: AnyEnqueueSpec[],
    options: EnqueueBatchOptions = {},
  ): Promise<JobBatchHandle> {
    checkEnqueueSpecs(specs);
    if (specs.length === 0) {
      throw new InvalidJobsOptionError('specs of enqueueBatch()', specs, 'at least one job');
    }
    specs.forEach((spec, i) => {
      for (const option of ['dependsOn', 'unique', 'periodic'] as const) {
        if (spec[option] !== undefined && spec[option] !== false) {
          throw new InvalidJobsOptionError(
            `enqueueBatch() spec [${i}] ${option}`,
            spec[option],
            'not in a batch (its jobs end on their own; use enqueueFlow for dependencies)',
          );
        }
      }
    });
    const { onComplete, manager } = options;
    let callback: NewJobRow | null = null;
    if (onComplete !== undefined) {
      checkEnqueueSpecs([onComplete]);
      const data = onComplete.data;
      if (
        data !== undefined &&
        (typeof data !== 'object' || data === null || Array.isArray(data))
      ) {
        throw new InvalidJobsOptionError(
          'onComplete.data',
          data,
          'an object (the batch and its counts are added to it as `batch`)',
        );
      }
      [callback] = await this.doors.rowsOf(
        [{ ...onComplete, data: data ?? {}, dependsOn: undefined }],
        manager,
      );
    }
    const rows = await this.doors.rowsOf(specs, manager);
    const { id, ids } = await this.store.insertBatch(rows, callback, manager);
    const jobs = ids.map((jobId, i) => entityOf(jobId, { ...rows[i], batchId: id }));
    this.doors.announce(jobs, manager);
    return { id, jobs };
  }

  /** A batch's counts; JobNotFoundError-like null when there is no such batch. */
  async batch(id: number): Promise<JobBatch | null> {
    if (!lookupId(id)) return null;
    const found = await this.store.batch(id);
    if (!found) return null;
    const { row, counts } = found;
    const finishedAt = row.finished_at === null ? null : new Date(Number(row.finished_at));
    return {
      id: Number(row.id),
      total: Number(row.total),
      // Once finished, the stored counts (its jobs may since have been pruned or retried).
      ...(finishedAt
        ? {
            pending: 0,
            running: 0,
            succeeded: Number(row.succeeded),
            failed: Number(row.failed),
            cancelled: Number(row.cancelled),
          }
        : counts),
      createdAt: new Date(Number(row.created)),
      finishedAt,
      callbackJobId: row.callback_job_id === null ? null : Number(row.callback_job_id),
    };
  }

  /** Cancels the pending jobs `id` waits on, all the way down; returns them. */
  async cancelChildren(id: number): Promise<number[]> {
    if (!lookupId(id)) throw new JobNotFoundError(id);
    return this.store.cancelChildren(id);
  }
}
