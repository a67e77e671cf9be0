import type {
  Attributes,
  BatchObservableCallback,
  Counter,
  Histogram,
  Meter,
  ObservableGauge,
} from '@opentelemetry/api';
import type { QueueDue } from './jobs.telemetry.js';
import { TELEMETRY_SCOPE, type Otel } from './otel.js';

/** Seconds, from a few milliseconds to an hour: runs and waits of a job queue. */
const SECONDS_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
];

/**
 * The module's instruments, through the OpenTelemetry metrics API (the app's SDK and exporters
 * decide where they go): counters of jobs enqueued and finished, histograms of run and wait time,
 * and gauges of due jobs per queue read by one statement per collection. Exists only where a
 * MeterProvider is registered (see `JobMetrics.of`).
 */
export class JobMetrics {
  private readonly enqueuedCount: Counter;
  private readonly finishedCount: Counter;
  private readonly runDuration: Histogram;
  private readonly waitDuration: Histogram;
  private readonly dueJobs: ObservableGauge;
  private readonly oldestDueAge: ObservableGauge;
  private readonly observe: BatchObservableCallback;
  /** One attributes object per kind, queue (and outcome), not one per job. */
  private readonly attributeSets = new Map<string, Attributes>();

  private constructor(
    private readonly meter: Meter,
    readDue: (now: number) => Promise<QueueDue[]>,
  ) {
    this.enqueuedCount = meter.createCounter('jobs.enqueued', {
      description: 'Jobs enqueued, by kind and queue.',
      unit: '{job}',
    });
    this.finishedCount = meter.createCounter('jobs.finished', {
      description:
        'Runs ended, by kind, queue and outcome (succeeded, rescheduled, snoozed, retrying, failed, cancelled, lease lost, released at shutdown).',
      unit: '{job}',
    });
    this.runDuration = meter.createHistogram('jobs.run.duration', {
      description: "Time a run took, from its start to its handler's end.",
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.waitDuration = meter.createHistogram('jobs.wait.duration', {
      description: 'Time a job waited from when it was due to when its run started.',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.dueJobs = meter.createObservableGauge('jobs.due', {
      description:
        'Jobs due and not started, per queue (the whole database, as this instance reads it).',
      unit: '{job}',
    });
    this.oldestDueAge = meter.createObservableGauge('jobs.due.oldest_age', {
      description: 'How long the longest-waiting due job of each queue has been due.',
      unit: 's',
    });
    // Both gauges come from one statement, run once per collection.
    this.observe = async (result) => {
      const now = Date.now();
      for (const row of await readDue(now)) {
        const attributes = { 'jobs.queue': row.queue };
        result.observe(this.dueJobs, row.due, attributes);
        result.observe(this.oldestDueAge, Math.max(0, now - row.oldestRunAt) / 1000, attributes);
      }
    };
    meter.addBatchObservableCallback(this.observe, [this.dueJobs, this.oldestDueAge]);
  }

  /**
   * The metrics of this process, or null when no MeterProvider is registered (the API then hands
   * out a no-op meter, and the module records nothing at all). Checked once, at the app's start.
   */
  static of(otel: Otel, readDue: (now: number) => Promise<QueueDue[]>): JobMetrics | null {
    const meter = otel.metrics.getMeter(TELEMETRY_SCOPE);
    if (meter.constructor === otel.createNoopMeter().constructor) return null;
    return new JobMetrics(meter, readDue);
  }

  enqueued(kind: string, queue: string): void {
    this.enqueuedCount.add(1, this.attributes(kind, queue));
  }

  /** A run started `waited` ms after its job was due. */
  started(kind: string, queue: string, waited: number): void {
    this.waitDuration.record(Math.max(0, waited) / 1000, this.attributes(kind, queue));
  }

  /** A run ended (`outcome`) after `took` ms. */
  finished(kind: string, queue: string, outcome: string, took: number): void {
    this.finishedCount.add(1, this.attributes(kind, queue, outcome));
    this.runDuration.record(Math.max(0, took) / 1000, this.attributes(kind, queue));
  }

  /** Stops the gauges' reads (the data source closes after this). */
  close(): void {
    this.meter.removeBatchObservableCallback(this.observe, [this.dueJobs, this.oldestDueAge]);
  }

  private attributes(kind: string, queue: string, outcome?: string): Attributes {
    const key = outcome === undefined ? `${kind}\n${queue}` : `${kind}\n${queue}\n${outcome}`;
    let attributes = this.attributeSets.get(key);
    if (attributes === undefined) {
      attributes = { 'jobs.kind': kind, 'jobs.queue': queue };
      if (outcome !== undefined) attributes['jobs.outcome'] = outcome;
      this.attributeSets.set(key, attributes);
    }
    return attributes;
  }
}
