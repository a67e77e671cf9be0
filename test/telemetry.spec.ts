import {
  Controller,
  Injectable,
  Param,
  Post,
  type INestApplication,
  type MiddlewareConsumer,
  Module,
  type NestModule,
} from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import * as otel from '@opentelemetry/api';
import {
  context,
  metrics,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import {
  InMemoryMetricExporter,
  AggregationTemporality,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  JobKind,
  JobsModule,
  JobsService,
  type JobContext,
  type JobsModuleOptions,
} from 'nestjs-typeorm-jobs';
import { formatTraceContext, parseTraceContext } from '../lib/telemetry/trace-context.js';
import { describeBackends } from './support/backends.js';
import {
  closeCleaners,
  freshDatabase,
  quietLogger,
  startApp,
  waitFor,
  waitForStatus,
} from './support/fixtures.js';

/**
 * OpenTelemetry (lib/telemetry/): an SDK registered the way an app registers one (a global
 * TracerProvider with an AsyncLocalStorage context manager, a global MeterProvider), spans kept by
 * the SDK's in-memory exporter, metrics read by its in-memory metric exporter. A trace runs from an
 * HTTP request through the enqueue in one app to the run in a second app on the same database.
 */

const spans = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(spans)],
});
const contextManager = new AsyncLocalStorageContextManager();

/** The tracer the test's own code (the HTTP client, the server, a handler) makes spans with. */
const tracer = () => trace.getTracer('telemetry.spec');

/** Metrics of the apps created since the SDK was last registered (a MeterProvider per test). */
let metricExporter: InMemoryMetricExporter;
let metricReader: PeriodicExportingMetricReader;
let meterProvider: MeterProvider | undefined;

/** Registers the SDK, as an app does before it creates its Nest app. */
async function registerSdk(): Promise<void> {
  unregisterSdk();
  await meterProvider?.shutdown();
  metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  metricReader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: 3_600_000,
  });
  meterProvider = new MeterProvider({ readers: [metricReader] });
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
}

function unregisterSdk(): void {
  trace.disable();
  metrics.disable();
}

/** How many times each snoozing job has run. */
const snoozed = new Map<number, number>();

@Injectable()
class Handlers {
  @JobKind('otel.thing')
  thing({ data }: JobContext<{ name: string }>) {
    // A span the handler starts is a child of the run's span.
    return tracer().startActiveSpan('render thing', (span) => {
      span.end();
      return `rendered ${data.name}`;
    });
  }

  @JobKind('otel.fails')
  fails(): never {
    throw new Error('the thing broke');
  }

  @JobKind('otel.snoozes')
  snoozes(job: JobContext) {
    const runs = (snoozed.get(job.id) ?? 0) + 1;
    snoozed.set(job.id, runs);
    return runs === 1 ? job.snooze(20, 'not yet') : 'done';
  }
}

@Controller('things')
class ThingsController {
  constructor(private readonly jobs: JobsService) {}

  @Post(':name')
  async create(@Param('name') name: string) {
    const job = await this.jobs.enqueue('otel.thing', { name });
    return { id: job.id };
  }
}

/**
 * The server span an HTTP instrumentation would make: the request's traceparent is its parent, and
 * the route runs inside it.
 */
@Module({})
class ServerSpans implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply((req: any, res: any, next: () => void) => {
        const parent = propagation.extract(ROOT_CONTEXT, req.headers);
        const span = tracer().startSpan(
          `${req.method} /things/:name`,
          { kind: SpanKind.SERVER },
          parent,
        );
        res.on('finish', () => span.end());
        context.with(trace.setSpan(parent, span), next);
      })
      .forRoutes(ThingsController);
  }
}

/** The app that serves HTTP and only enqueues (no runner). */
async function webApp(database: DataSourceOptions): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({ ...database, autoLoadEntities: true, retryAttempts: 0 } as never),
      JobsModule.forRoot({ runner: false, kinds: ['otel.thing'] }),
      ServerSpans,
    ],
    controllers: [ThingsController],
  })
    .setLogger(quietLogger)
    .compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

function worker(database: DataSourceOptions, jobs: JobsModuleOptions = {}): Promise<TestingModule> {
  return startApp({ database, providers: [Handlers], jobs: { pollInterval: 20, ...jobs } });
}

function named(name: string): ReadableSpan[] {
  return spans.getFinishedSpans().filter((span) => span.name === name);
}

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

/** Waits until the SDK has `count` finished spans named `name`. */
function finished(name: string, count = 1): Promise<ReadableSpan[]> {
  return waitFor(() => {
    const found = named(name);
    return found.length >= count ? found : null;
  }, `${count} span(s) ${name}`);
}

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  // The HTTP client and server below carry the trace in a traceparent header.
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});

afterAll(async () => {
  unregisterSdk();
  context.disable();
  propagation.disable();
  await tracerProvider.shutdown();
  await meterProvider?.shutdown();
  await closeCleaners();
});

it('stores the traceparent, then the tracestate, and reads both back as the remote parent', () => {
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const spanId = 'b7ad6b7169203331';
  const stored = formatTraceContext({
    traceId,
    spanId,
    traceFlags: otel.TraceFlags.SAMPLED,
    traceState: otel.createTraceState('vendor=a,other=b'),
  });
  expect(stored).toBe(`00-${traceId}-${spanId}-01 vendor=a,other=b`);
  const parent = trace.getSpanContext(parseTraceContext(otel, stored));
  expect(parent).toMatchObject({ traceId, spanId, traceFlags: 1, isRemote: true });
  expect(parent!.traceState!.serialize()).toBe('vendor=a,other=b');
  expect(formatTraceContext({ traceId, spanId, traceFlags: 0 })).toBe(`00-${traceId}-${spanId}-00`);
  // Text it cannot read is no parent: the run starts a trace of its own.
  expect(parseTraceContext(otel, 'not a traceparent')).toBe(ROOT_CONTEXT);
  expect(parseTraceContext(otel, `00-${'0'.repeat(32)}-${spanId}-01`)).toBe(ROOT_CONTEXT);
});

describeBackends('telemetry', (backend) => {
  const apps: Array<{ close(): Promise<unknown> }> = [];

  beforeEach(async () => {
    await registerSdk();
    spans.reset();
    snoozed.clear();
  });

  afterEach(async () => {
    for (const app of apps.splice(0).reverse()) await app.close();
  });

  it('traces a request through the enqueue in one app to the run in another, and the handler under it', async () => {
    const database = await freshDatabase(backend);
    const web = await webApp(database);
    apps.push(web);
    const runner = await worker(database);
    apps.push(runner);

    // The client's span; its traceparent goes in the request's headers.
    const { id } = await tracer().startActiveSpan(
      'GET /things',
      { kind: SpanKind.CLIENT },
      async (span) => {
        const headers: Record<string, string> = {};
        propagation.inject(context.active(), headers);
        const response = await fetch(`${await web.getUrl()}/things/lamp`, {
          method: 'POST',
          headers,
        });
        span.end();
        return (await response.json()) as { id: number };
      },
    );
    expect(await waitForStatus(runner, id, 'succeeded', 'failed')).toMatchObject({
      status: 'succeeded',
    });

    const [client] = named('GET /things');
    const [server] = await finished('POST /things/:name');
    const [publish] = await finished('publish otel.thing');
    const [run] = await finished('process otel.thing');
    const [render] = await finished('render thing');
    const traceId = client.spanContext().traceId;
    for (const span of [server, publish, run, render]) {
      expect(span.spanContext().traceId).toBe(traceId);
    }
    expect(parentOf(server)).toBe(client.spanContext().spanId);
    expect(parentOf(publish)).toBe(server.spanContext().spanId);
    expect(parentOf(run)).toBe(publish.spanContext().spanId);
    expect(parentOf(render)).toBe(run.spanContext().spanId);

    expect(publish.kind).toBe(SpanKind.PRODUCER);
    expect(publish.attributes).toMatchObject({
      'messaging.system': 'nestjs-typeorm-jobs',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'default',
      'messaging.message.id': String(id),
      'jobs.kind': 'otel.thing',
    });
    expect(run.kind).toBe(SpanKind.CONSUMER);
    expect(run.attributes).toMatchObject({
      'messaging.system': 'nestjs-typeorm-jobs',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'default',
      'messaging.message.id': String(id),
      'jobs.kind': 'otel.thing',
      'jobs.attempt': 1,
      'jobs.outcome': 'succeeded',
    });
    expect(run.status.code).toBe(SpanStatusCode.UNSET);

    // The context travelled in the row: the producer span's, as a W3C traceparent.
    const job = await runner.get(JobsService).get(id);
    expect(job!.traceContext).toBe(`00-${traceId}-${publish.spanContext().spanId}-01`);
  });

  it('records a failed run with status ERROR and its exception; the runs of a retried job are siblings', async () => {
    const database = await freshDatabase(backend);
    const runner = await worker(database);
    apps.push(runner);
    const jobs = runner.get(JobsService);

    const job = await tracer().startActiveSpan('request', async (span) => {
      const enqueued = await jobs.enqueue('otel.fails', {}, { maxAttempts: 2, backoff: 10 });
      span.end();
      return enqueued;
    });
    await waitForStatus(runner, job.id, 'failed');

    const [publish] = named('publish otel.fails');
    const runs = await finished('process otel.fails', 2);
    expect(runs).toHaveLength(2);
    expect(runs.map(parentOf)).toEqual([
      publish.spanContext().spanId,
      publish.spanContext().spanId,
    ]);
    expect(runs.map((run) => run.attributes['jobs.attempt'])).toEqual([1, 2]);
    expect(runs.map((run) => run.attributes['jobs.outcome'])).toEqual(['retrying', 'failed']);
    for (const run of runs) {
      expect(run.status).toEqual({ code: SpanStatusCode.ERROR, message: 'the thing broke' });
      expect(run.events.find((event) => event.name === 'exception')?.attributes).toMatchObject({
        'exception.type': 'Error',
        'exception.message': 'the thing broke',
      });
    }
    expect(runs[0].events.map((event) => event.name)).toContain('retry scheduled');
  });

  it('records a snooze as an event of the run', async () => {
    const database = await freshDatabase(backend);
    const runner = await worker(database);
    apps.push(runner);
    const job = await runner.get(JobsService).enqueue('otel.snoozes', {});
    await waitForStatus(runner, job.id, 'succeeded');

    const runs = await finished('process otel.snoozes', 2);
    expect(runs.map((run) => run.attributes['jobs.outcome'])).toEqual(['snoozed', 'succeeded']);
    const [event] = runs[0].events;
    expect(event.name).toBe('snoozed');
    expect(event.attributes?.['jobs.run_at']).toEqual(expect.any(String));
    // Enqueued outside any span: its producer span is the root of the trace, the runs its children.
    const [publish] = named('publish otel.snoozes');
    expect(parentOf(publish)).toBeUndefined();
    expect(runs.map(parentOf)).toEqual([
      publish.spanContext().spanId,
      publish.spanContext().spanId,
    ]);
  });

  it('records a cancel of a running job as an event of its run', async () => {
    const database = await freshDatabase(backend);
    const runner = await startApp({
      database,
      providers: [SlowHandler],
      jobs: { pollInterval: 20 },
    });
    apps.push(runner);
    const jobs = runner.get(JobsService);
    const job = await jobs.enqueue('otel.slow', {});
    await waitForStatus(runner, job.id, 'running');
    expect(await jobs.cancel(job.id)).toBe(true);

    const [run] = await finished('process otel.slow');
    expect(run.attributes['jobs.outcome']).toBe('cancelled');
    expect(run.events.map((event) => event.name)).toEqual(['cancelled']);
  });

  it('stores nothing and records nothing without an SDK registered', async () => {
    unregisterSdk();
    const database = await freshDatabase(backend);
    const runner = await worker(database);
    apps.push(runner);
    const job = await runner.get(JobsService).enqueue('otel.thing', { name: 'plain' });
    await waitForStatus(runner, job.id, 'succeeded');
    expect((await runner.get(JobsService).get(job.id))!.traceContext).toBeNull();
    expect(spans.getFinishedSpans().filter((span) => span.name !== 'render thing')).toEqual([]);
  });

  it("stores nothing with the module's telemetry: false, SDK or not", async () => {
    const database = await freshDatabase(backend);
    const runner = await worker(database, { telemetry: false });
    apps.push(runner);
    const job = await tracer().startActiveSpan('request', async (span) => {
      const enqueued = await runner.get(JobsService).enqueue('otel.thing', { name: 'off' });
      span.end();
      return enqueued;
    });
    await waitForStatus(runner, job.id, 'succeeded');
    expect((await runner.get(JobsService).get(job.id))!.traceContext).toBeNull();
    expect(named('publish otel.thing')).toEqual([]);
    expect(named('process otel.thing')).toEqual([]);
  });

  it('counts enqueued and finished jobs, times runs and waits, and gauges due jobs per queue', async () => {
    const database = await freshDatabase(backend);
    const runner = await worker(database, { queues: ['default'] });
    apps.push(runner);
    const jobs = runner.get(JobsService);
    const done = await jobs.enqueueMany([
      { kind: 'otel.thing', data: { name: 'a' } },
      { kind: 'otel.thing', data: { name: 'b' } },
    ]);
    for (const job of done) await waitForStatus(runner, job.id, 'succeeded');
    // Due in a queue no instance runs: the gauges see them wait.
    const before = Date.now();
    await jobs.enqueue('otel.thing', { name: 'parked' }, { queue: 'parked' });
    await jobs.enqueue('otel.thing', { name: 'parked' }, { queue: 'parked' });

    const read = await collect();
    const ours = (name: string) => read.find((metric) => metric.descriptor.name === name)!;
    const points = (name: string) => ours(name).dataPoints;

    expect(points('jobs.enqueued').map((p) => [p.attributes, p.value])).toEqual(
      expect.arrayContaining([
        [{ 'jobs.kind': 'otel.thing', 'jobs.queue': 'default' }, 2],
        [{ 'jobs.kind': 'otel.thing', 'jobs.queue': 'parked' }, 2],
      ]),
    );
    expect(points('jobs.finished').map((p) => [p.attributes, p.value])).toEqual([
      [{ 'jobs.kind': 'otel.thing', 'jobs.queue': 'default', 'jobs.outcome': 'succeeded' }, 2],
    ]);
    for (const name of ['jobs.run.duration', 'jobs.wait.duration']) {
      expect(ours(name).descriptor.unit).toBe('s');
      const [point] = points(name);
      expect(point.attributes).toEqual({ 'jobs.kind': 'otel.thing', 'jobs.queue': 'default' });
      expect((point.value as { count: number }).count).toBe(2);
    }
    const due = ours('jobs.due').dataPoints;
    expect(due.map((p) => [p.attributes, p.value])).toEqual([[{ 'jobs.queue': 'parked' }, 2]]);
    const [age] = ours('jobs.due.oldest_age').dataPoints;
    expect(age.attributes).toEqual({ 'jobs.queue': 'parked' });
    expect(age.value).toBeGreaterThanOrEqual(0);
    expect(age.value).toBeLessThanOrEqual((Date.now() - before) / 1000 + 1);
  });
});

@Injectable()
class SlowHandler {
  @JobKind('otel.slow')
  async slow({ signal }: JobContext) {
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    return 'stopped';
  }
}

/** One collection by the SDK's reader: the module's metrics. */
async function collect(): Promise<MetricData[]> {
  metricExporter.reset();
  await metricReader.forceFlush();
  const scopes = metricExporter.getMetrics().flatMap((resource) => resource.scopeMetrics);
  return scopes
    .filter((scope) => scope.scope.name === 'nestjs-typeorm-jobs')
    .flatMap((scope) => scope.metrics);
}
