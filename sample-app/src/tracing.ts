/**
 * Optional OpenTelemetry, as an app sets it up: `SAMPLE_TRACING=1 npm start` registers an SDK that
 * prints every span (an enqueue's `publish <kind>`, each run's `process <kind>` under it) and, every
 * 30 s, the module's metrics to the console. It must be registered before the app is created. Without
 * it, the module records nothing and stores no trace context.
 */
export async function startTracing(): Promise<void> {
  if (process.env.SAMPLE_TRACING !== '1') return;
  const { context, metrics, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } =
    await import('@opentelemetry/sdk-trace-base');
  const { ConsoleMetricExporter, MeterProvider, PeriodicExportingMetricReader } =
    await import('@opentelemetry/sdk-metrics');
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())],
    }),
  );
  metrics.setGlobalMeterProvider(
    new MeterProvider({
      readers: [
        new PeriodicExportingMetricReader({
          exporter: new ConsoleMetricExporter(),
          exportIntervalMillis: 30_000,
        }),
      ],
    }),
  );
}
