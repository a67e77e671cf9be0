import { parseArgs, type ParseArgsConfig } from 'node:util';
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
      args,
      options: { ...GLOBAL_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
    return { options: values as GlobalOptions & O, positionals };
  } catch (error) {
    throw new CliUsageError((error as Error).message);
  }
}

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `500ms`, `30s`, `15m`, `12h`, `7d`, `2w` in milliseconds. */
export function parseDuration(name: string, text: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!match)
    throw new CliUsageError(`${name} must be a duration like 30m, 12h or 7d, got "${text}"`);
  return Number(match[1]) * UNITS[match[2]];
}

/** A non-negative integer option; `fallback` when absent. */
export function parseInteger(
  name: string,
  text: string | undefined,
  fallback?: number,
  min = 0,
): number | undefined {
  if (text === undefined) return fallback;
  if (!/^-?\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
    throw new CliUsageError(`${name} must be an integer of at least ${min}, got "${text}"`);
  }
  return Number(text);
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
