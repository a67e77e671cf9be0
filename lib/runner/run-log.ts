import { MAX_LOG_CHARS, MAX_LOG_LINE_CHARS } from '../jobs.constants.js';
import { bounded, storable, tail } from './error-text.js';

/**
 * A run's abort signal, made only when the handler reads it or the run is aborted: most runs never
 * need one, and a fast runner starts tens of thousands a second.
 */
export class RunAbort {
  private controller: AbortController | null = null;

  get signal(): AbortSignal {
    return (this.controller ??= new AbortController()).signal;
  }

  abort(reason: unknown): void {
    (this.controller ??= new AbortController()).abort(reason);
  }

  /** Whether the run was aborted (without making a signal when it was not). */
  get aborted(): boolean {
    return this.controller?.signal.aborted === true;
  }

  get reason(): unknown {
    return this.controller?.signal.reason;
  }
}

/** A timestamped log line, as stored, its text bounded to MAX_LOG_LINE_CHARS. */
export function logLine(at: number, text: string): string {
  return `[${new Date(at).toISOString()}] ${storable(bounded(text, MAX_LOG_LINE_CHARS))}\n`;
}

/**
 * The lines a run appends to its job's logs. The column keeps the newest MAX_LOG_CHARS characters,
 * so older lines are dropped here already: a handler logging in a loop holds bounded memory, and
 * no more than the column keeps is ever sent to the database.
 */
export class RunLog {
  private lines: string[] = [];
  private length = 0;

  add(at: number, text: string): void {
    const line = logLine(at, text);
    this.lines.push(line);
    this.length += line.length;
    if (this.length > 2 * MAX_LOG_CHARS) this.lines = [this.text()];
  }

  /** What to append to the column ('' when nothing was logged). */
  text(): string {
    if (this.lines.length === 0) return '';
    const all = tail(this.lines.length === 1 ? this.lines[0] : this.lines.join(''), MAX_LOG_CHARS);
    this.length = all.length;
    return all;
  }
}
