import { Injectable, Logger, SetMetadata } from '@nestjs/common';
import { JOB_EVENT_METADATA } from '../jobs.constants.js';
import { summarizeError } from '../runner/error-text.js';

/** The moments of a job's life that listeners can observe. */
export type JobEventName =
  | 'enqueued'
  | 'started'
  | 'progress'
  | 'succeeded'
  | 'snoozed'
  | 'failed'
  | 'dead'
  | 'retried'
  | 'cancelled';

export interface JobEvent {
  event: JobEventName;
  id: number;
  kind: string;
  /** The run's number, for run events. */
  attempt?: number;
  /** What the handler threw, for `failed` and `dead`. */
  error?: unknown;
  /** The job's data (every event but `cancelled` and `retried`, which carry what was read back). */
  data?: unknown;
  /** What the handler returned, as stored (JSON), for `succeeded`. */
  result?: unknown;
  /** The value the handler reported (`job.progress()`), for `progress`. */
  progress?: unknown;
  at: Date;
}

export interface OnJobEventMetadata {
  events: JobEventName[];
  kind?: string;
}

/**
 * Calls the decorated provider method on these job events (of one kind, if given). A listener that
 * throws is logged, never fails the job. With @nestjs/event-emitter in the app, the same events are
 * also emitted as `jobs.<event>`.
 */
export function OnJobEvent(
  events: JobEventName | JobEventName[],
  options: { kind?: string } = {},
): MethodDecorator {
  return SetMetadata<string, OnJobEventMetadata>(JOB_EVENT_METADATA, {
    events: [events].flat(),
    kind: options.kind,
  });
}

type Listener = {
  metadata: OnJobEventMetadata;
  call: (event: JobEvent) => unknown;
  source: string;
};

/** Something with an `emit(name, payload)`: @nestjs/event-emitter's EventEmitter2, found at startup if present. */
export interface EventEmitterLike {
  emit(event: string, payload: unknown): unknown;
}

@Injectable()
export class JobsEvents {
  private readonly logger = new Logger('JobsEvents');
  private readonly listeners: Listener[] = [];
  private emitter: EventEmitterLike | null = null;

  addListener(
    metadata: OnJobEventMetadata,
    call: (event: JobEvent) => unknown,
    source: string,
  ): void {
    this.listeners.push({ metadata, call, source });
  }

  useEmitter(emitter: EventEmitterLike): void {
    this.emitter = emitter;
  }

  /** Listener calls still running. */
  private readonly inFlight = new Set<Promise<unknown>>();

  /** Whether anyone listens: callers skip building an event's payload when nobody does. */
  get active(): boolean {
    return this.listeners.length > 0 || this.emitter !== null;
  }

  /**
   * Waits for the listener calls still running, at most `timeout` ms: shutdown calls this before
   * the data source closes, so a listener that reads the database still can.
   */
  async settle(timeout: number): Promise<void> {
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => (timer = setTimeout(resolve, timeout))),
    ]);
    clearTimeout(timer);
  }

  /** Tells every matching listener; never throws and never waits for them (see `settle`). */
  emit(
    event: JobEventName,
    job: { id: number; kind: string },
    extra: Partial<JobEvent> = {},
  ): void {
    if (this.listeners.length === 0 && !this.emitter) return;
    const payload: JobEvent = { event, id: job.id, kind: job.kind, at: new Date(), ...extra };
    for (const listener of this.listeners) {
      const { events, kind } = listener.metadata;
      if (!events.includes(event) || (kind !== undefined && kind !== job.kind)) continue;
      const call = Promise.resolve()
        .then(() => listener.call(payload))
        .catch((error: unknown) =>
          this.logger.error(
            `${listener.source} threw on ${event} of job ${job.id}: ${summarizeError(error)}`,
          ),
        )
        .finally(() => this.inFlight.delete(call));
      this.inFlight.add(call);
    }
    try {
      this.emitter?.emit(`jobs.${event}`, payload);
    } catch (error) {
      this.logger.error(
        `An event-emitter listener threw on jobs.${event}: ${summarizeError(error)}`,
      );
    }
  }
}
