/**
 * Turning whatever a handler threw into bounded text. A handler can throw anything: an object with
 * no prototype, one whose `toString` throws or returns an object, an Error whose `stack` getter
 * throws, a 50 MB message. Describing it must never throw (a throw inside the runner's own catch
 * used to crash the process) and never produce unbounded text (logs, columns, log lines).
 */

/** Characters of an error kept in a log line of the application's logger. */
export const MAX_LOGGED_ERROR_CHARS = 1_000;

/** `text` cut to `max` characters, saying how much was cut. Never splits a surrogate pair. */
export function bounded(text: string, max: number): string {
  if (text.length <= max) return text;
  const note = ` … [${text.length - max} more characters cut]`;
  let end = Math.max(0, max - note.length);
  if (end > 0 && isHighSurrogate(text.charCodeAt(end - 1))) end--;
  return text.slice(0, end) + note;
}

/** The newest `max` characters of `text` (for logs, which keep their end). */
export function tail(text: string, max: number): string {
  if (text.length <= max) return text;
  let start = text.length - max;
  if (isLowSurrogate(text.charCodeAt(start))) start++;
  return text.slice(start);
}

/** Text a database stores as it is: PostgreSQL refuses NUL characters in text. */
export function storable(text: string): string {
  return text.includes('\0') ? text.replaceAll('\0', '\uFFFD') : text;
}

/** `String(value)`, or a description of the value when that throws or gives no string. */
export function safeString(value: unknown): string {
  try {
    const text = String(value);
    if (typeof text === 'string') return text;
  } catch {
    // String() throws on objects without a prototype, and on toString/valueOf that return objects.
  }
  try {
    const name = (value as { constructor?: { name?: unknown } })?.constructor?.name;
    if (typeof name === 'string' && name) return `[${name} that cannot be converted to text]`;
  } catch {
    // a throwing getter: fall through to the plain description
  }
  return `[${value === null ? 'null' : typeof value} that cannot be converted to text]`;
}

/** One line for the logs: the error's name and message, or the thrown value as text; bounded. */
export function summarizeError(error: unknown, max = MAX_LOGGED_ERROR_CHARS): string {
  const text = readError(error, false) ?? safeString(error);
  return bounded(text.replace(/\s*\n\s*/g, ' '), max);
}

/** The whole story of an error (its stack when it has one), bounded to `max` characters. */
export function describeError(error: unknown, max: number): string {
  return storable(bounded(readError(error, true) ?? safeString(error), max));
}

/** `name: message` (or the stack) of an Error-like value, or null when it is none or cannot be read. */
function readError(error: unknown, withStack: boolean): string | null {
  try {
    if (!(error instanceof Error)) return null;
    if (withStack) {
      const stack: unknown = error.stack;
      if (typeof stack === 'string' && stack) return stack;
    }
    return `${safeString(error.name)}: ${safeString(error.message)}`;
  } catch {
    return null;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
