import type { Context, SpanContext } from '@opentelemetry/api';
import type { Otel } from './otel.js';

/**
 * The W3C trace context a job carries from its enqueue to its runs (`nest_jobs.trace_context`,
 * varchar(512)): the traceparent (version 00: always 55 characters), then a space and the tracestate
 * when there is one and it fits. Written and read here, without the app's propagator: the module
 * needs no propagator registered, and a traceparent is the same whatever propagator the app uses.
 */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const TRACEPARENT_LENGTH = 55;
export const TRACE_CONTEXT_MAX_CHARS = 512;

/** The stored text of a span context. */
export function formatTraceContext(span: SpanContext): string {
  const flags = (span.traceFlags & 0xff).toString(16).padStart(2, '0');
  const parent = `00-${span.traceId}-${span.spanId}-${flags}`;
  const state = span.traceState?.serialize();
  if (!state || parent.length + 1 + state.length > TRACE_CONTEXT_MAX_CHARS) return parent;
  return `${parent} ${state}`;
}

/** The context whose (remote) span is the stored one; the root context for text it cannot read. */
export function parseTraceContext(otel: Otel, stored: string): Context {
  const match = TRACEPARENT.exec(stored.slice(0, TRACEPARENT_LENGTH));
  if (!match) return otel.ROOT_CONTEXT;
  const state = stored.slice(TRACEPARENT_LENGTH + 1);
  const span: SpanContext = {
    traceId: match[1],
    spanId: match[2],
    traceFlags: parseInt(match[3], 16),
    isRemote: true,
    ...(state ? { traceState: otel.createTraceState(state) } : {}),
  };
  return otel.isSpanContextValid(span)
    ? otel.trace.setSpanContext(otel.ROOT_CONTEXT, span)
    : otel.ROOT_CONTEXT;
}
