import type { DataSource, Repository } from 'typeorm';
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
