import type { Context, Span, Tracer } from '@opentelemetry/api';
import type { ClaimedJob } from '../storage/job-rows.js';
import type { RunOutcome } from '../runner/job-execution.js';
import { summarizeError } from '../runner/error-text.js';
import { TELEMETRY_SCOPE, type Otel } from './otel.js';
import { formatTraceContext, parseTraceContext } from './trace-context.js';
import type { RunStop } from './jobs.telemetry.js';

/** `messaging.system` of every span (OpenTelemetry's messaging semantic conventions). */
export const MESSAGING_SYSTEM = 'nestjs-typeorm-jobs';

/**
 * Spans of the messaging semantic conventions: a PRODUCER span per enqueue (`publish <kind>`),
 * whose context the job stores, and a CONSUMER span per run (`process <kind>`), its child. Exists
 * only where an SDK is registered (see `JobTracing.of`): without one, nothing here runs.
 */
export class JobTracing {
  private constructor(
    private readonly otel: Otel,
    private readonly tracer: Tracer,
  ) {}

  /**
   * The tracing of this process, or null when no OpenTelemetry SDK is registered: the global
   * provider then hands out proxy tracers (every span they make records nothing), so the module
   * leaves tracing alone and its hot path pays nothing. Checked once, at the app's start.
   */
  static of(otel: Otel): JobTracing | null {
    const tracer = otel.trace.getTracer(TELEMETRY_SCOPE);
    return tracer instanceof otel.ProxyTracer ? null : new JobTracing(otel, tracer);
  }

  /**
   * Runs `work` (an enqueue) inside a PRODUCER span, child of the active context; the rows it makes
   * store that span's context (`current`). `work` may name the message (`messaging.message.id`).
   */
  async publish<T>(name: string, work: (span: Span) => Promise<T>): Promise<T> {
    const span = this.tracer.startSpan(`publish ${name}`, {
      kind: this.otel.SpanKind.PRODUCER,
      attributes: {
        'messaging.system': MESSAGING_SYSTEM,
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'publish',
      },
    });
    const context = this.otel.trace.setSpan(this.otel.context.active(), span);
    try {
      return await this.otel.context.with(context, () => work(span));
    } catch (error) {
      failed(this.otel, span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  /** The stored form of the active span's context; null outside any valid span. */
  current(): string | null {
    const span = this.otel.trace.getSpanContext(this.otel.context.active());
    return span && this.otel.isSpanContextValid(span) ? formatTraceContext(span) : null;
  }

  /**
   * A CONSUMER span for one run, child of the context stored at enqueue (so a retried job's runs
   * are siblings), or a root span for a job enqueued untraced.
   */
  run(job: ClaimedJob): RunSpan {
    const parent = job.traceContext
      ? parseTraceContext(this.otel, job.traceContext)
      : this.otel.ROOT_CONTEXT;
    const span = this.tracer.startSpan(
      `process ${job.kind}`,
      {
        kind: this.otel.SpanKind.CONSUMER,
        attributes: {
          'messaging.system': MESSAGING_SYSTEM,
          'messaging.operation.type': 'process',
          'messaging.operation.name': 'process',
          'messaging.destination.name': job.queue,
          'messaging.message.id': String(job.id),
          'jobs.kind': job.kind,
          'jobs.attempt': job.attempts,
        },
      },
      parent,
    );
    return new RunSpan(this.otel, span, this.otel.trace.setSpan(parent, span));
  }
}

/** One run's span: the handler runs in its context; it ends with the run. */
export class RunSpan {
  constructor(
    private readonly otel: Otel,
    private readonly span: Span,
    private readonly context: Context,
  ) {}

  /** Runs `work` (the handler) with this span active: spans it starts are the run's children. */
  within<T>(work: () => T): T {
    return this.otel.context.with(this.context, work);
  }

  /** The run's outcome: a throw is recorded with status ERROR, a snooze is an event. */
  ended(outcome: RunOutcome): void {
    const span = this.span;
    span.setAttribute('jobs.outcome', outcome.verdict);
    if (outcome.verdict === 'snoozed') {
      span.addEvent('snoozed', { 'jobs.run_at': new Date(outcome.update.runAt).toISOString() });
    } else if (outcome.verdict === 'retrying' || outcome.verdict === 'failed') {
      failed(this.otel, span, outcome.error);
      if (outcome.verdict === 'retrying') {
        span.addEvent('retry scheduled', {
          'jobs.run_at': new Date(outcome.update.runAt).toISOString(),
        });
      }
    }
    span.end();
  }

  /** The run was stopped from outside (cancel, lost lease, shutdown): an event, and the span ends. */
  stopped(how: RunStop, reason: Error): void {
    this.span.setAttribute('jobs.outcome', how);
    this.span.addEvent(how, { 'exception.message': reason.message });
    this.span.end();
  }
}

function failed(otel: Otel, span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : summarizeError(error));
  const message = error instanceof Error ? error.message : summarizeError(error);
  span.setStatus({ code: otel.SpanStatusCode.ERROR, message });
}
