import { randomBytes } from 'node:crypto';
import {
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { StreamableFile } from '@nestjs/common';
import { Readable } from 'node:stream';
import type { Observable } from 'rxjs';

/**
 * The parts of a request the dashboard reads, the same behind Express and Fastify (structural
 * types only: nothing here imports either adapter).
 */
export interface DashboardRequest {
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  /** Express: the connection is TLS (or trusted `X-Forwarded-Proto` says so). */
  secure?: boolean;
  /** Fastify: 'https' or 'http'. */
  protocol?: string;
  /** Set by the pages controller: the nonce of this response's Content-Security-Policy. */
  dashboardNonce?: string;
}

/**
 * The parts of a response the dashboard writes: Express's (Node's `setHeader`) or Fastify's reply
 * (`header`, which appends to Set-Cookie). Write headers through `putHeader` and `setCookie` only.
 */
export interface DashboardResponse {
  setHeader?(name: string, value: string | string[]): unknown;
  header?(name: string, value: string | string[]): unknown;
  getHeader(name: string): unknown;
}

/** Sets a header (replacing it) on either adapter's response. */
export function putHeader(
  response: DashboardResponse,
  name: string,
  value: string | string[],
): void {
  if (typeof response.setHeader === 'function') response.setHeader(name, value);
  else if (typeof response.header === 'function') response.header(name, value);
  else throw new TypeError('The dashboard runs behind Express or Fastify only.');
}

export function header(request: DashboardRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export function readCookie(request: DashboardRequest, name: string): string | undefined {
  for (const part of (header(request, 'cookie') ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

/** Adds a Set-Cookie header, keeping the ones already set. */
export function setCookie(
  request: DashboardRequest,
  response: DashboardResponse,
  name: string,
  value: string,
  path: string,
  maxAgeSeconds?: number,
): void {
  const attributes = [`${name}=${value}`, `Path=${path}`, 'HttpOnly', 'SameSite=Strict'];
  if (maxAgeSeconds !== undefined) attributes.push(`Max-Age=${maxAgeSeconds}`);
  if (isHttps(request)) attributes.push('Secure');
  const cookie = attributes.join('; ');
  if (typeof response.setHeader !== 'function' && typeof response.header === 'function') {
    // Fastify's reply.header() appends to the Set-Cookie already set.
    response.header('Set-Cookie', cookie);
    return;
  }
  const existing = response.getHeader('Set-Cookie');
  const list = Array.isArray(existing) ? existing.map(String) : existing ? [String(existing)] : [];
  putHeader(response, 'Set-Cookie', [...list, cookie]);
}

function isHttps(request: DashboardRequest): boolean {
  return (
    request.secure === true ||
    request.protocol === 'https' ||
    header(request, 'x-forwarded-proto') === 'https'
  );
}

/**
 * Headers of every HTML page: only this response's inline script and style may run (the nonce),
 * nothing is loaded from elsewhere, forms post only here, and no other site may frame the page.
 */
export function securePage(response: DashboardResponse): string {
  const nonce = randomBytes(16).toString('base64');
  putHeader(
    response,
    'Content-Security-Policy',
    [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      `style-src 'nonce-${nonce}'`,
      "img-src 'self' data:",
      "connect-src 'self'",
      "form-action 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join('; '),
  );
  putHeader(response, 'Content-Type', 'text/html; charset=utf-8');
  noStore(response);
  return nonce;
}

/** Job data is private and changes: never cache it, never let it be sniffed or framed. */
export function noStore(response: DashboardResponse): void {
  putHeader(response, 'Cache-Control', 'no-store');
  putHeader(response, 'X-Content-Type-Options', 'nosniff');
  putHeader(response, 'X-Frame-Options', 'DENY');
  putHeader(response, 'Referrer-Policy', 'same-origin');
}

/** Marks every API answer private and uncacheable. */
@Injectable()
export class DashboardNoStoreInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    noStore(context.switchToHttp().getResponse<DashboardResponse>());
    return next.handle();
  }
}

const DOWNLOAD_CHUNK = 64 * 1024;

/** JSON text as a download, sent in chunks rather than one write of megabytes. */
export function jsonDownload(json: string, filename: string): StreamableFile {
  function* chunks(): Generator<string> {
    for (let at = 0; at < json.length;) {
      let end = Math.min(at + DOWNLOAD_CHUNK, json.length);
      // Each chunk is encoded on its own: never split a surrogate pair between two.
      if (/[\ud800-\udbff]/.test(json[end - 1] ?? '')) end += 1;
      yield json.slice(at, end);
      at = end;
    }
  }
  return new StreamableFile(Readable.from(chunks()), {
    type: 'application/json; charset=utf-8',
    disposition: `attachment; filename="${filename}"`,
  });
}
