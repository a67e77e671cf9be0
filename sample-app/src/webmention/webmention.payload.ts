import { defineJobKind } from 'nestjs-typeorm-jobs';

/** What a webmention job carries: the page that links, and the page it links to. */
export interface WebmentionPayload {
  source: string;
  target: string;
}

/** The kind, with its payload type: `@JobKind` and `enqueue` are both checked against it. */
export const WEBMENTION_RECEIVE = defineJobKind<WebmentionPayload>('webmention.receive');

/**
 * Checks a webmention as the spec asks a receiver to before fetching anything: both are http(s)
 * URLs, they differ, and the target is a page of ours. "Ours" is any host unless
 * WEBMENTION_TARGET_HOSTS lists some (comma-separated). Returns the reason it is refused, or null.
 */
export function webmentionProblem(
  payload: WebmentionPayload,
  ourHosts = targetHosts(),
): string | null {
  const source = httpUrl(payload.source);
  const target = httpUrl(payload.target);
  if (!source) return `source is not an http(s) URL: ${JSON.stringify(payload.source)}`;
  if (!target) return `target is not an http(s) URL: ${JSON.stringify(payload.target)}`;
  if (source.href === target.href) return 'source and target are the same page';
  if (ourHosts.length > 0 && !ourHosts.includes(target.hostname)) {
    return `target host ${target.hostname} is not ours (${ourHosts.join(', ')})`;
  }
  return null;
}

function httpUrl(value: unknown): URL | null {
  if (typeof value !== 'string') return null;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}

function targetHosts(): string[] {
  return (process.env.WEBMENTION_TARGET_HOSTS ?? '')
    .split(',')
    .map((host) => host.trim().toLowerCase())
    .filter(Boolean);
}
