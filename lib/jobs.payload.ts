import { createHash } from 'node:crypto';
import { InvalidJobPayloadError } from './errors/jobs.errors.js';

/**
 * Checks that `data` survives a JSON round trip unchanged and returns its JSON text.
 * JSON.stringify alone would throw on BigInt and cycles but silently drop functions, symbols and
 * undefined array items, turn NaN into null and Maps into {}: data lost without a word.
 */
export function serializePayload(kind: string, data: unknown): string {
  if (data === undefined) return 'null';
  assertJson(kind, data, '$', new Set());
  return JSON.stringify(data);
}

function assertJson(kind: string, value: unknown, path: string, ancestors: Set<object>): void {
  const fail = (reason: string): never => {
    throw new InvalidJobPayloadError(kind, path, reason);
  };
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(`is ${value}, which JSON cannot hold`);
      return;
    case 'bigint':
      return fail('is a BigInt; convert it to a string or number');
    case 'function':
      return fail('is a function');
    case 'symbol':
      return fail('is a symbol');
    case 'undefined':
      return fail('is undefined (inside an array JSON would turn it into null)');
  }
  if (value === null) return;
  const object = value as object;
  if (ancestors.has(object)) fail('refers back to itself (a cycle)');
  if (typeof (object as { toJSON?: unknown }).toJSON === 'function') {
    // Dates and other values with toJSON are stored as what toJSON returns.
    assertJson(kind, (object as { toJSON(): unknown }).toJSON(), path, ancestors);
    return;
  }
  ancestors.add(object);
  if (Array.isArray(object)) {
    object.forEach((item, i) => assertJson(kind, item, `${path}[${i}]`, ancestors));
  } else {
    const proto = Object.getPrototypeOf(object);
    if (proto !== Object.prototype && proto !== null) {
      fail(`is a ${proto?.constructor?.name ?? 'class'} instance, which JSON would not keep`);
    }
    for (const [key, item] of Object.entries(object)) {
      if (item === undefined) continue; // an absent optional field: JSON drops it, as intended
      assertJson(kind, item, `${path}.${key}`, ancestors);
    }
  }
  ancestors.delete(object);
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
