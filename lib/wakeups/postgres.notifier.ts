import type { Sql } from '../storage/sql.js';
import {
  controlPayload,
  WAKE_CHANNEL,
  wakePayload,
  type ControlMessage,
} from './postgres.listener.js';

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

  /**
   * Tells every listening instance (this one too) that these jobs were cancelled or have ended;
   * fire and forget: the listeners' polls catch what a lost notification would have said.
   */
  control(message: ControlMessage, ids: number[]): void {
    for (let i = 0; i < ids.length; i += CONTROL_IDS_PER_NOTIFY) {
      const payload = controlPayload(message, ids.slice(i, i + CONTROL_IDS_PER_NOTIFY));
      this.sql('SELECT pg_notify($1, $2)', [WAKE_CHANNEL, payload]).catch(() => undefined);
    }
  }
}

/** PostgreSQL refuses payloads of 8,000 bytes or more: 500 ids of 10 digits stay well under. */
const CONTROL_IDS_PER_NOTIFY = 500;
