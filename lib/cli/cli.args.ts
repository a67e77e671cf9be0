import { parseArgs, type ParseArgsConfig } from 'node:util';
import { JobsError } from '../errors/jobs.errors.js';
import { durationMs, INT32_MAX, MAX_DURATION_MS } from '../options/index.js';
import { CliUsageError } from './cli.errors.js';

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/** What every command accepts. */
export const GLOBAL_OPTIONS = {
  module: { type: 'string', short: 'm' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies OptionSpecs;

export interface GlobalOptions {
  module?: string;
  json?: boolean;
  verbose?: boolean;
  help?: boolean;
}

export interface ParsedCommand<O> {
  options: GlobalOptions & O;
  positionals: string[];
}

/** Parses one command's arguments strictly: an unknown option or a missing value is a usage error. */
export function parseCommand<O>(args: string[], options: OptionSpecs): ParsedCommand<O> {
  try {
    const { values, positionals } = parseArgs({
      args: joinNegativeValues(args, { ...GLOBAL_OPTIONS, ...options }),
      options: { ...GLOBAL_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
    return { options: values as GlobalOptions & O, positionals };
  } catch (error) {
    throw new CliUsageError((error as Error).message);
  }
}

/**
 * `--priority -5` as `--priority=-5`. parseArgs refuses a value that starts with a dash as
 * ambiguous, but a negative number after an option that takes a value can only be that value (and
 * a negative priority is the urgent case, so people type it).
 */
function joinNegativeValues(args: string[], options: OptionSpecs): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = /^--([^=]+)$/.exec(args[i])?.[1];
    if (name && options[name]?.type === 'string' && /^-\d+$/.test(args[i + 1] ?? '')) {
      joined.push(`${args[i]}=${args[++i]}`);
    } else {
      joined.push(args[i]);
    }
  }
  return joined;
}

/** `500ms`, `30s`, `15m`, `1h30m`, `7d`, `2w` in milliseconds: the module's one duration grammar. */
export function parseDuration(name: string, text: string): number {
  const ms = /^\d+$/.test(text.trim()) ? null : durationMs(text);
  if (ms === null || ms > MAX_DURATION_MS) {
    throw new CliUsageError(
      `${name} must be a duration like 30s, 15m, 1h30m, 7d or 2w (at most 100 years), got "${text}"`,
    );
  }
  return ms;
}

/** An integer option from `min` to `max` (a 32-bit column by default); `fallback` when absent. */
export function parseInteger(
  name: string,
  text: string | undefined,
  fallback?: number,
  min = 0,
  max = INT32_MAX,
): number | undefined {
  if (text === undefined) return fallback;
  const value = /^-?\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    throw new CliUsageError(`${name} must be an integer from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

/** A job id: a positive integer. One past the 32-bit column is a job that does not exist, not a typo. */
export function parseJobId(text: string): number {
  return parseInteger('<id>', text, undefined, 1, Number.MAX_SAFE_INTEGER)!;
}

/** One positional argument, or a usage error naming it. */
export function requirePositional(positionals: string[], index: number, name: string): string {
  const value = positionals[index];
  if (value === undefined || value === '') throw new CliUsageError(`missing <${name}>`);
  return value;
}

export function noMorePositionals(positionals: string[], count: number): void {
  if (positionals.length > count) {
    throw new CliUsageError(`unexpected argument "${positionals[count]}"`);
  }
}

/** Runs checks of the module's own before the app boots, their typed errors turned into usage errors (exit 2). */
export function checkBeforeBoot<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof JobsError) throw new CliUsageError(error.message);
    throw error;
  }
}
