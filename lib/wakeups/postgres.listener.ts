import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { JOBS_TABLE } from '../jobs.constants.js';
import { messages } from '../jobs.messages.js';

/** The NOTIFY channel: one per table, so two apps on one database with their own tables do not mix. */
export const WAKE_CHANNEL = JOBS_TABLE;

/** The bits of a node-postgres pooled client used here. */
interface ListeningClient {
  query(sql: string): Promise<unknown>;
  on(
    event: 'notification',
    listener: (message: { channel: string; payload?: string }) => void,
  ): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  removeAllListeners(): unknown;
  release(destroy?: boolean | Error): void;
}

interface PgPool {
  options?: { max?: number };
  connect(): Promise<ListeningClient>;
}

const FIRST_RETRY_MS = 1_000;
/** Below this pool size, holding a connection for LISTEN would starve the app's own queries. */
const MIN_POOL_FOR_LISTEN = 3;
const MAX_RETRY_MS = 30_000;

/** A notification's payload: the sending instance, and when the jobs it announces are due. */
export function wakePayload(self: string, at: number): string {
  return `${self} ${at}`;
}

/** What a notification on the jobs channel can say besides "jobs are due" (see `controlPayload`). */
export type ControlMessage = 'cancelled' | 'finished';

/**
 * A control notification's payload: `cancelled:<id>,<id>` or `finished:<id>,<id>`. An instance of
 * an older version reads it as a wake-up for jobs due long ago, and only polls once.
 */
export function controlPayload(message: ControlMessage, ids: number[]): string {
  return `${message}:${ids.join(',')}`;
}

/** What the listener hears: wake-ups (from other instances) and control messages (from any). */
export interface ListenerHandlers {
  wake(at: number): void;
  control(message: ControlMessage, ids: number[]): void;
}

type Heard =
  | { type: 'wake'; from: string; at: number }
  | { type: 'control'; message: ControlMessage; ids: number[] };

function readPayload(payload: string): Heard {
  const control = /^(cancelled|finished):([\d,]+)$/.exec(payload);
  if (control) {
    const ids = control[2].split(',').filter(Boolean).map(Number);
    return { type: 'control', message: control[1] as ControlMessage, ids };
  }
  const space = payload.lastIndexOf(' ');
  const at = space < 0 ? NaN : Number(payload.slice(space + 1));
  return Number.isFinite(at)
    ? { type: 'wake', from: payload.slice(0, space), at }
    : { type: 'wake', from: payload, at: 0 };
}

/**
 * PostgreSQL wake-ups, the receiving side: holds one connection of the data source's pool, LISTENs
 * on the jobs channel, and calls `wake(at)` for every wake-up another instance sent (see
 * PostgresNotifier), `at` being when the announced jobs are due, and `control` for cancels and
 * ends of awaited jobs. If the connection fails, it
 * reconnects with a growing delay; polling keeps jobs moving meanwhile.
 */
export class PostgresListener {
  private readonly logger = new Logger('JobsRunner');
  private client: ListeningClient | null = null;
  private retryMs = FIRST_RETRY_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private failing = false;
  private stopped = false;

  constructor(
    private readonly dataSource: DataSource,
    /** Notifications carrying this payload came from this instance and are ignored. */
    private readonly self: string,
    private readonly handlers: ListenerHandlers,
  ) {}

  /** Whether the connection is up and listening now. */
  get listening(): boolean {
    return this.client !== null;
  }

  /** Connects and listens; never throws (a failure is logged and retried). */
  async start(): Promise<void> {
    if (this.stopped || this.client) return;
    let client: ListeningClient | null = null;
    try {
      const pool = (this.dataSource.driver as unknown as { master: PgPool }).master;
      const size = pool.options?.max ?? 10;
      if (size < MIN_POOL_FOR_LISTEN) {
        this.stopped = true;
        this.logger.warn(messages.poolTooSmallToListen(size));
        return;
      }
      client = await pool.connect();
      client.on('notification', (message) => {
        if (message.channel !== WAKE_CHANNEL) return;
        const heard = readPayload(message.payload ?? '');
        if (heard.type === 'control') this.handlers.control(heard.message, heard.ids);
        else if (heard.from !== this.self) this.handlers.wake(heard.at);
      });
      client.on('error', (error) => this.lost(error));
      client.on('end', () => this.lost(new Error('the connection ended')));
      await client.query(`LISTEN ${WAKE_CHANNEL}`);
      if (this.stopped) return this.drop(client);
      this.client = client;
      this.retryMs = FIRST_RETRY_MS;
      if (this.failing) this.logger.log(messages.listenBack());
      this.failing = false;
      // Jobs may have been enqueued while nobody listened.
      this.handlers.wake(0);
    } catch (error) {
      if (client) this.drop(client, error as Error);
      this.retry(error as Error);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    if (!client) return;
    try {
      await client.query(`UNLISTEN ${WAKE_CHANNEL}`);
      this.drop(client);
    } catch (error) {
      this.drop(client, error as Error);
    }
  }

  private lost(error: Error): void {
    const client = this.client;
    this.client = null;
    if (client) this.drop(client, error);
    this.retry(error);
  }

  private retry(error: Error): void {
    if (this.stopped) return;
    if (!this.failing) this.logger.warn(messages.listenLost(error.message, this.retryMs));
    this.failing = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.start(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }

  /** Gives the connection back to the pool, or destroys it if it failed. */
  private drop(client: ListeningClient, error?: Error): void {
    client.removeAllListeners();
    // A client that errored must not go back to the pool; one that only stops listening may.
    client.on('error', () => undefined);
    try {
      client.release(error ?? undefined);
    } catch {
      // Released already (the pool does this itself for a connection that died).
    }
  }
}
