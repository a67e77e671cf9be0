import { In, type DataSource, type Repository } from 'typeorm';
import { JOB_STARTS_TABLE } from '../jobs.constants.js';
import type { KindLimits } from '../limits/kind-limits.js';
import { JobEntity } from '../entities/job.entity.js';
import { JobKindEntity } from '../entities/job-kind.entity.js';
import type { JobStatus } from '../interfaces/job-context.interface.js';

/** One row of `countByKindAndStatus`. */
export interface KindStatusCount {
  kind: string;
  status: JobStatus;
  count: number;
}

/** Every read about kinds: the kinds table, and jobs counted per kind. */
export class KindQueries {
  private readonly kinds: Repository<JobKindEntity>;
  private readonly jobs: Repository<JobEntity>;

  constructor(dataSource: DataSource) {
    this.kinds = dataSource.getRepository(JobKindEntity);
    this.jobs = dataSource.getRepository(JobEntity);
  }

  all(): Promise<JobKindEntity[]> {
    return this.kinds.find({ order: { name: 'ASC' } });
  }

  /** Pending jobs per kind, for these kinds (their `(kind, status)` index answers it). */
  async pendingByKind(kinds: string[]): Promise<Map<string, number>> {
    if (kinds.length === 0) return new Map();
    const rows = await this.jobs
      .createQueryBuilder('job')
      .select('job.kind', 'kind')
      .addSelect('COUNT(*)', 'count')
      .where('job.kind IN (:...kinds) AND job.status = :pending', { kinds, pending: 'pending' })
      .groupBy('job.kind')
      .getRawMany<{ kind: string; count: string | number }>();
    return new Map(rows.map((row) => [row.kind, Number(row.count)]));
  }

  /** The limits each of these kinds' code declared (`nest_job_kinds.limits`), for those with any. */
  async limitsOf(kinds: string[]): Promise<Map<string, KindLimits>> {
    if (kinds.length === 0) return new Map();
    const rows = await this.kinds.find({
      where: { name: In(kinds) },
      select: { name: true, limits: true },
    });
    const limits = new Map<string, KindLimits>();
    for (const row of rows) {
      if (row.limits) limits.set(row.name, JSON.parse(row.limits) as KindLimits);
    }
    return limits;
  }

  /**
   * How much of each limit of these kinds is in use now: jobs running under a live lease and starts
   * in each rate window, per kind (group null) and per group (keys `kind\u0000group`).
   */
  async limitUsage(
    limits: Map<string, KindLimits>,
    now: number,
  ): Promise<{ running: Map<string, number>; starts: Map<string, number> }> {
    const kinds = [...limits.keys()];
    const running = new Map<string, number>();
    const starts = new Map<string, number>();
    if (kinds.length === 0) return { running, starts };
    const add = (map: Map<string, number>, key: string, n: number) =>
      map.set(key, (map.get(key) ?? 0) + n);
    const busy = await this.jobs
      .createQueryBuilder('job')
      .select('job.kind', 'kind')
      .addSelect('job.group', 'group_key')
      .addSelect('COUNT(*)', 'count')
      .where('job.kind IN (:...kinds) AND job.status = :running AND job.lockedUntil >= :now', {
        kinds,
        running: 'running',
        now,
      })
      .groupBy('job.kind')
      .addGroupBy('job.group')
      .getRawMany<{ kind: string; group_key: string | null; count: string | number }>();
    for (const row of busy) {
      add(running, usageKey(row.kind, null), Number(row.count));
      if (row.group_key !== null)
        add(running, usageKey(row.kind, row.group_key), Number(row.count));
    }
    for (const [kind, declared] of limits) {
      for (const [rate, grouped] of [
        [declared.rateLimit, false],
        [declared.group?.rateLimit, true],
      ] as const) {
        if (!rate) continue;
        const rows = await this.kinds.manager
          .createQueryBuilder()
          .select('s.group_key', 'group_key')
          .addSelect('COUNT(*)', 'count')
          .from(JOB_STARTS_TABLE, 's')
          .where(`s.kind = :kind AND s.at > :since AND s.group_key ${grouped ? '<>' : '='} ''`, {
            kind,
            since: now - rate.per,
          })
          .groupBy('s.group_key')
          .getRawMany<{ group_key: string; count: string | number }>();
        for (const row of rows) {
          add(starts, usageKey(kind, grouped ? row.group_key : null), Number(row.count));
        }
      }
    }
    return { running, starts };
  }

  /** How many jobs there are of each kind in each status (one grouped query). */
  async countByKindAndStatus(): Promise<KindStatusCount[]> {
    const rows = await this.jobs
      .createQueryBuilder('job')
      .select('job.kind', 'kind')
      .addSelect('job.status', 'status')
      .addSelect('COUNT(*)', 'count')
      .groupBy('job.kind')
      .addGroupBy('job.status')
      .orderBy('job.kind')
      .getRawMany<{ kind: string; status: JobStatus; count: string | number }>();
    return rows.map((row) => ({ kind: row.kind, status: row.status, count: Number(row.count) }));
  }
}

/** The key of `limitUsage`'s maps: the kind, and the group (none: the kind as a whole). */
export function usageKey(kind: string, group: string | null): string {
  return `${kind}\u0000${group ?? ''}`;
}
