import type { JobUpdate, NewJobRow } from './job-rows.js';

/**
 * Bytes of text per statement at most (a single larger row goes alone). MariaDB refuses a
 * statement over `max_allowed_packet` (16 MiB by default) and closes the connection, and
 * client-side escaping can double the text.
 */
const STATEMENT_BYTES = 4 * 1024 * 1024;
/** Rows per INSERT at most. */
const INSERT_BATCH = 1_000;
/** Outcomes written per statement at most. */
const FINISH_BATCH = 500;

/** Consecutive runs of `items`, each of at most `count` items and STATEMENT_BYTES of their text. */
function* chunks<T>(items: T[], count: number, bytesOf: (item: T) => number): Generator<T[]> {
  let chunk: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = bytesOf(item);
    if (chunk.length === count || (chunk.length > 0 && bytes + size > STATEMENT_BYTES)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(item);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

/** Rows to insert, a statement's worth at a time. */
export function insertChunks(rows: NewJobRow[]): Generator<NewJobRow[]> {
  return chunks(rows, INSERT_BATCH, (row) => Buffer.byteLength(row.data, 'utf8'));
}

/** Outcomes to write, a statement's worth at a time (results and logs can be large). */
export function finishChunks(updates: JobUpdate[]): Generator<JobUpdate[]> {
  return chunks(updates, FINISH_BATCH, (update) => {
    let bytes = Buffer.byteLength(update.appendLogs, 'utf8');
    if (update.result !== null) bytes += Buffer.byteLength(update.result, 'utf8');
    if (update.lastError !== null) bytes += Buffer.byteLength(update.lastError, 'utf8');
    return bytes;
  });
}
