import type { ClaimedJob } from '../storage/job-rows.js';
import type { RunOutcome } from '../runner/job-execution.js';
import { JobMetrics } from './metrics.js';
import { loadOtel } from './otel.js';
import { JobTracing, type RunSpan } from './tracing.js';

/** Attribute values the service gives a producer span once its enqueue is done. */
export type PublishedAttributes = Record<string, string | number | boolean>;

/** Due jobs of one queue: how many, and when the longest-waiting one became due (epoch ms). */
export interface QueueDue {
  queue: string;
  due: number;
  oldestRunAt: number;
}

/** How a run was stopped from outside, as its span's event and its `jobs.outcome` say. */
export type RunStop = 'cancelled' | 'lease lost' | 'released at shutdown';

/** One run's telemetry: the handler runs inside its span; its end is recorded once. */
export interface RunTelemetry {
  /** Runs the handler (`work`) inside the run's span. */
  within<T>(work: () => T): T;
  /** The handler ended: its outcome. */
  ended(outcome: RunOutcome): void;
  /** The run was stopped from outside: cancelled, its lease lost, or released at shutdown. */
  stopped(how: RunStop, reason: Error): void;
}

/**
 * What the service and the runner tell OpenTelemetry (lib/telemetry/): spans per enqueue and per
 * run (tracing.ts), counters, histograms and gauges (metrics.ts). Decided once, when the app
 * starts: without `@opentelemetry/api` installed, without an SDK registered, or with the module's
 * `telemetry: false`, every method below is a branch on a null field and nothing else, so the hot
 * path pays nothing. Its signatures name no OpenTelemetry type: apps without the package compile.
 */
export class JobsTelemetry {
  private constructor(
    private readonly tracing: JobTracing | null,
    private readonly metrics: JobMetrics | null,
  ) {}

  /** Telemetry that records nothing. */
  static readonly off = new JobsTelemetry(null, null);

  /**
   * Loads the API (once per process) and looks for a registered TracerProvider and MeterProvider.
   * An SDK registered after this is not seen: register it before the app is created, as
   * OpenTelemetry's own setup asks.
   */
  static async create(
    enabled: boolean,
    readDue: (now: number) => Promise<QueueDue[]>,
  ): Promise<JobsTelemetry> {
    const otel = enabled ? await loadOtel() : null;
    if (!otel) return JobsTelemetry.off;
    return new JobsTelemetry(JobTracing.of(otel), JobMetrics.of(otel, readDue));
  }

  /** Whether anything is recorded. */
  get active(): boolean {
    return this.tracing !== null || this.metrics !== null;
  }

  /**
   * Runs an enqueue inside its PRODUCER span (`publish <name>`, the name asked for only then),
   * then names what it published (`describe`: the job's id, its queue, how many); without
   * tracing, just runs it.
   */
  publishing<T>(
    name: () => string,
    work: () => Promise<T>,
    describe: (value: T) => PublishedAttributes,
  ): Promise<T> {
    if (this.tracing === null) return work();
    return this.tracing.publish(name(), async (span) => {
      const value = await work();
      span.setAttributes(describe(value));
      return value;
    });
  }

  /** The trace context a job enqueued now stores: the active span's, or null. */
  traceContext(): string | null {
    return this.tracing === null ? null : this.tracing.current();
  }

  /** Jobs were added. */
  enqueued(jobs: Array<{ kind: string; queue: string }>): void {
    if (this.metrics === null) return;
    for (const job of jobs) this.metrics.enqueued(job.kind, job.queue);
  }

  /** A run starts: its span and its clock, or null when nothing is recorded. */
  run(job: ClaimedJob): RunTelemetry | null {
    if (this.tracing === null && this.metrics === null) return null;
    return new RunRecorder(job, this.tracing?.run(job) ?? null, this.metrics);
  }

  /** Nest calls this before the data source closes: the gauges stop reading it. */
  beforeApplicationShutdown(): void {
    this.metrics?.close();
  }
}

/** A run's span and clock (not exported: its constructor names OpenTelemetry's types). */
class RunRecorder implements RunTelemetry {
  private readonly startedAt = performance.now();
  private done = false;

  constructor(
    private readonly job: ClaimedJob,
    private readonly span: RunSpan | null,
    private readonly metrics: JobMetrics | null,
  ) {
    metrics?.started(job.kind, job.queue, Date.now() - job.runAt);
  }

  within<T>(work: () => T): T {
    return this.span === null ? work() : this.span.within(work);
  }

  ended(outcome: RunOutcome): void {
    if (this.end(outcome.verdict)) this.span?.ended(outcome);
  }

  stopped(how: RunStop, reason: Error): void {
    if (this.end(how)) this.span?.stopped(how, reason);
  }

  private end(outcome: string): boolean {
    if (this.done) return false;
    this.done = true;
    this.metrics?.finished(
      this.job.kind,
      this.job.queue,
      outcome,
      performance.now() - this.startedAt,
    );
    return true;
  }
}
