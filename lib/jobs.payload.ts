import { createHash } from 'node:crypto';
import { InvalidJobPayloadError } from './errors/jobs.errors.js';
import { storableText } from './options/options.validation.js';

/**
 * Deepest nesting of objects and arrays a payload may have. MariaDB's JSON check refuses 32 levels
 * and accepts 31 (measured on 10.11: `[[...[1]...]]`); PostgreSQL and SQLite take far more, but one
 * rule on every backend means moving databases never strands a job. It also bounds this walk, so a
 * payload nested 5,000 deep is refused by a rule instead of overflowing the stack.
 */
export const MAX_PAYLOAD_DEPTH = 31;

/** Default of the `maxPayloadSize` module option: 4 MiB of UTF-8 JSON (see its doc for why). */
export const DEFAULT_MAX_PAYLOAD_SIZE = 4 * 1024 * 1024;

/**
 * Checks that `data` survives a JSON round trip unchanged on every backend and returns its JSON
 * text; otherwise throws InvalidJobPayloadError naming the path, before anything is written.
 * JSON.stringify alone would throw on BigInt and cycles but silently drop functions, symbols and
 * undefined array items, turn NaN and invalid Dates into null and Maps into {}: data lost without a
 * word. What the databases refuse is refused here first, the same way everywhere (measured):
 * - nesting of 32 or more (MariaDB),
 * - lone UTF-16 surrogates, in values or keys (MariaDB, PostgreSQL jsonb),
 * - NUL characters (PostgreSQL jsonb and text),
 * - more than `maxBytes` of UTF-8 JSON (MariaDB's `max_allowed_packet` holds the whole statement).
 */
export function serializePayload(
  kind: string,
  data: unknown,
  maxBytes = DEFAULT_MAX_PAYLOAD_SIZE,
): string {
  if (data === undefined) return 'null';
  new PayloadCheck(kind, maxBytes).value(data, '$', undefined, 0);
  const json = JSON.stringify(data);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxBytes) {
    throw new InvalidJobPayloadError(kind, '$', tooLarge(bytes, maxBytes));
  }
  return json;
}

function tooLarge(bytes: number, max: number): string {
  return (
    `is ${bytes} bytes of JSON, over the ${max}-byte limit (the maxPayloadSize option); ` +
    `store large content elsewhere and pass its key`
  );
}

/**
 * `$.a`, `$[0]`, `$["odd key"]`: a JSON path a reader can follow. The walk passes a parent's path
 * and a key and makes the string only for an error or a nested container: made for every value, it
 * was most of the check's cost (a payload of ten values took 3.2 µs to check, its JSON 0.65 µs).
 */
function child(path: string, key: string | number | undefined): string {
  if (key === undefined) return path;
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

class PayloadCheck {
  private readonly ancestors = new Set<object>();

  constructor(
    private readonly kind: string,
    private readonly maxBytes: number,
  ) {}

  private fail(path: string, reason: string): never {
    throw new InvalidJobPayloadError(this.kind, path, reason);
  }

  private text(value: string, path: string, key: string | number | undefined, what: string): void {
    // A string's UTF-8 form is never shorter than its UTF-16 length: too long is too large.
    if (value.length > this.maxBytes) {
      this.fail(child(path, key), tooLarge(value.length, this.maxBytes));
    }
    if (!storableText(value)) {
      this.fail(
        child(path, key),
        `${what} a NUL character or a lone UTF-16 surrogate, which PostgreSQL or MariaDB refuse`,
      );
    }
  }

  /**
   * Checks the value at `key` of the container at `path` (the root: `key` undefined); `converted`
   * is true for what a toJSON() returned (JSON calls it once).
   */
  value(
    value: unknown,
    parent: string,
    key: string | number | undefined,
    depth: number,
    converted = false,
  ): void {
    switch (typeof value) {
      case 'string':
        return this.text(value, parent, key, 'holds');
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(value)) {
          this.fail(child(parent, key), `is ${value}, which JSON cannot hold`);
        }
        return;
      case 'function':
        return this.fail(child(parent, key), 'is a function');
      case 'symbol':
        return this.fail(child(parent, key), 'is a symbol');
      case 'undefined':
        return this.fail(
          child(parent, key),
          'is undefined (inside an array JSON would turn it into null)',
        );
    }
    const path = child(parent, key);
    if (value === null) return;
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (!converted && typeof toJSON === 'function') {
      if (value instanceof Date && Number.isNaN(value.getTime())) {
        this.fail(path, 'is an invalid Date, which JSON would store as null');
      }
      // Dates and other values with toJSON are stored as what toJSON returns.
      let json: unknown;
      try {
        json = toJSON.call(value, '');
      } catch (error) {
        this.fail(path, `has a toJSON() that threw: ${(error as Error)?.message}`);
      }
      return this.value(json, path, undefined, depth, true);
    }
    if (typeof value === 'bigint')
      return this.fail(path, 'is a BigInt; convert it to a string or number');
    this.container(value as object, path, depth + 1);
  }

  private container(object: object, path: string, depth: number): void {
    if (depth > MAX_PAYLOAD_DEPTH) {
      this.fail(
        path,
        `is nested ${depth} levels deep; at most ${MAX_PAYLOAD_DEPTH} levels of objects and arrays are ` +
          `stored (MariaDB refuses more)`,
      );
    }
    if (this.ancestors.has(object)) this.fail(path, 'refers back to itself (a cycle)');
    this.ancestors.add(object);
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        if (!(i in object)) this.fail(child(path, i), 'is an empty slot (JSON would store null)');
        this.value(object[i], path, i, depth);
      }
    } else {
      const proto = Object.getPrototypeOf(object);
      if (proto !== Object.prototype && proto !== null) {
        this.fail(
          path,
          `is a ${proto?.constructor?.name ?? 'class'} instance, which JSON would not keep`,
        );
      }
      const symbol = Object.getOwnPropertySymbols(object).find((key) =>
        Object.prototype.propertyIsEnumerable.call(object, key),
      );
      if (symbol !== undefined) {
        this.fail(path, `has the symbol key ${String(symbol)}, which JSON would drop`);
      }
      for (const [key, item] of Object.entries(object)) {
        this.text(key, path, key, 'has a key with');
        if (item === undefined) continue; // an absent optional field: JSON drops it, as intended
        this.value(item, path, key, depth);
      }
    }
    this.ancestors.delete(object);
  }
}

/** JSON with object keys sorted, so that equal data gives equal text whatever the key order. */
export function canonicalJson(json: string): string {
  return JSON.stringify(JSON.parse(json), (_key, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
}

/** The dedupe key of a unique job: a hash of its kind and either the user's key or its data. */
export function uniqueKeyOf(kind: string, unique: true | string, dataJson: string): string {
  const subject = unique === true ? `data:${canonicalJson(dataJson)}` : `key:${unique}`;
  return createHash('sha256').update(kind).update('\0').update(subject).digest('hex');
}
