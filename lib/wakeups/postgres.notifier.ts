import type { Notify } from '../storage/dialects/dialect.js';
import type { Sql } from '../storage/sql.js';
import {
  controlPayload,
  WAKE_CHANNEL,
  wakePayload,
  type ControlMessage,
} from './postgres.listener.js';

/**
 * The least time between two wake-up NOTIFYs of one instance (ms). Each NOTIFY is a statement and
 * a commit of its own: sent for every enqueue of a busy producer, they cost it a third of its
 * single-enqueue rate (3.2k/s instead of 5.3k/s, the database's commit rate, at 10 connections).
 * The first enqueue after a quiet spell still wakes the others at once; those that follow within
 * this time wake them once, at its end, at most this much later.
 */
export const NOTIFY_GAP_MS = 5;

/**
 * PostgreSQL wake-ups, the sending side: NOTIFY on the jobs channel, fire and forget, coalesced.
 * While one NOTIFY is in flight or was sent less than NOTIFY_GAP_MS ago, the calls that come
 * meanwhile send one more after it, carrying the earliest due time among them. NOTIFY serializes
 * committing transactions on a global lock, so it is sent once per burst of enqueues, never with
 * each INSERT: the first of a burst rides on its single enqueue's INSERT (`carry`), the rest travel
 * on their own.
 */
export class PostgresNotifier {
  private sending: Promise<void> | null = null;
  /** The earliest due time asked for and not yet sent, or null. */
  private queued: number | null = null;
  /** When the last NOTIFY was sent, and the timer that sends the next after the gap. */
  private sentAt = -Infinity;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly sql: Sql,
    private readonly self: string,
  ) {}

  /**
   * The wake-up for jobs due at `at` as a notification a statement can carry (the enqueue's INSERT),
   * when this instance would send one at once now; then counted as sent. Null when one is in flight
   * or was sent less than NOTIFY_GAP_MS ago: `send` it after the statement instead.
   */
  carry(at: number): Notify | null {
    if (this.queued !== null || this.sending || this.timer) return null;
    if (Date.now() < this.sentAt + NOTIFY_GAP_MS) return null;
    this.sentAt = Date.now();
    return { channel: WAKE_CHANNEL, payload: wakePayload(this.self, at) };
  }

  send(at: number): void {
    this.queued = this.queued === null ? at : Math.min(this.queued, at);
    this.schedule();
  }

  /** Sends the queued wake-up now, or after the gap; nothing while one is in flight or timed. */
  private schedule(): void {
    if (this.queued === null || this.sending || this.timer) return;
    const wait = this.sentAt + NOTIFY_GAP_MS - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, wait);
      this.timer.unref?.();
      return;
    }
    this.flush();
  }

  private flush(): void {
    const at = this.queued;
    if (at === null) return;
    this.queued = null;
    this.sentAt = Date.now();
    this.sending = this.sql('SELECT pg_notify($1, $2)', [WAKE_CHANNEL, wakePayload(this.self, at)])
      .then(() => undefined)
      .catch(() => undefined) // the others find the jobs at their next poll
      .finally(() => {
        this.sending = null;
        this.schedule();
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
