import type { Sql } from '../storage/sql.js';
import { WAKE_CHANNEL, wakePayload } from './postgres.listener.js';

/**
 * PostgreSQL wake-ups, the sending side: NOTIFY on the jobs channel, fire and forget, coalesced.
 * While one NOTIFY is in flight, the calls that come meanwhile send one more after it, carrying
 * the earliest due time among them. NOTIFY serializes committing transactions on a global lock,
 * so it travels on its own, once per burst of enqueues, never inside each INSERT.
 */
export class PostgresNotifier {
  private sending: Promise<void> | null = null;
  /** The earliest due time asked for while a NOTIFY was in flight, or null. */
  private queued: number | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly self: string,
  ) {}

  send(at: number): void {
    if (this.sending) {
      this.queued = this.queued === null ? at : Math.min(this.queued, at);
      return;
    }
    this.sending = this.sql('SELECT pg_notify($1, $2)', [WAKE_CHANNEL, wakePayload(this.self, at)])
      .then(() => undefined)
      .catch(() => undefined) // the others find the jobs at their next poll
      .finally(() => {
        this.sending = null;
        const next = this.queued;
        this.queued = null;
        if (next !== null) this.send(next);
      });
  }
}
