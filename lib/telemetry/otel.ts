import type * as OtelApi from '@opentelemetry/api';

/** The OpenTelemetry API, as the app installed it (an optional peer dependency). */
export type Otel = typeof OtelApi;

/** The scope the module's tracer and meter are named by. */
export const TELEMETRY_SCOPE = 'nestjs-typeorm-jobs';

let loading: Promise<Otel | null> | undefined;

/**
 * Loads `@opentelemetry/api` once per process; null when the app did not install it. Dynamic, so
 * the package stays optional (and loads as ESM or CommonJS alike, through the app's resolution).
 */
export function loadOtel(): Promise<Otel | null> {
  loading ??= import('@opentelemetry/api').then(
    (api) => api as Otel,
    () => null,
  );
  return loading;
}
