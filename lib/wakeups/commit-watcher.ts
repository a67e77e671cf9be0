import type { DataSource, EntityManager, EntitySubscriberInterface } from 'typeorm';

const COMMIT_FLAG = 'nestjs-typeorm-jobs:wake-after-commit';

/**
 * Jobs enqueued in a transaction are invisible to every runner until it commits: the transaction
 * is marked with the earliest due time of its jobs, and `onCommit(at)` is called after it commits
 * (never after a rollback).
 */
export class CommitWatcher {
  private readonly subscriber: EntitySubscriberInterface;

  constructor(
    private readonly dataSource: DataSource,
    onCommit: (at: number) => void,
  ) {
    this.subscriber = {
      afterTransactionCommit: (event) => {
        const data = event.queryRunner.data as Record<string, unknown> | undefined;
        const at = data?.[COMMIT_FLAG];
        if (typeof at !== 'number') return;
        delete data![COMMIT_FLAG];
        onCommit(at);
      },
    };
    (dataSource.subscribers as EntitySubscriberInterface[]).push(this.subscriber);
  }

  /** Marks the manager's open transaction: its jobs are due at `at` at the earliest. */
  mark(manager: EntityManager, at: number): void {
    const runner = manager.queryRunner;
    if (!runner) return;
    const data = (runner.data ??= {}) as Record<string, unknown>;
    const marked = data[COMMIT_FLAG];
    data[COMMIT_FLAG] = typeof marked === 'number' ? Math.min(marked, at) : at;
  }

  stop(): void {
    const subscribers = this.dataSource.subscribers as EntitySubscriberInterface[];
    const at = subscribers.indexOf(this.subscriber);
    if (at >= 0) subscribers.splice(at, 1);
  }
}
