/**
 * The one duration grammar of the module: module options, kind options, schedules and the CLI all
 * read durations here. A number is milliseconds; a string is one or more `<digits><unit>` parts,
 * largest first or not, added up: '500ms', '30s', '15m', '1h30m', '7d', '2w'.
 */
const UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const GRAMMAR = /^(?:\d+(?:ms|s|m|h|d|w))+$/;
const PART = /(\d+)(ms|s|m|h|d|w)/g;

/** What the grammar accepts, for error messages. */
export const DURATION_EXAMPLES =
  "milliseconds, or a duration such as '30s', '15m', '1h30m', '7d', '2w'";

/**
 * Milliseconds of `value` (a number of ms, or a duration string), or null when it is neither.
 * Digits alone in a string are refused: '500' is ambiguous between ms and a forgotten unit.
 */
export function durationMs(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : null;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (text.length > 100 || !GRAMMAR.test(text)) return null;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) total += Number(amount) * UNITS[unit];
  return Number.isSafeInteger(total) ? total : null;
}
