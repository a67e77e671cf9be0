import type { NewJobRow } from './job-rows.js';

/** Rows per INSERT at most. */
const INSERT_BATCH = 1_000;
/**
 * Payload bytes per INSERT at most (a single larger row goes alone). MariaDB refuses a statement
 * over `max_allowed_packet` (16 MiB by default), and client-side escaping can double the text.
 */
const INSERT_BATCH_BYTES = 4 * 1024 * 1024;

/** Consecutive runs of rows, each small enough for one statement on every backend. */
export function* insertChunks(rows: NewJobRow[]): Generator<NewJobRow[]> {
  let chunk: NewJobRow[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = Buffer.byteLength(row.data, 'utf8');
    if (chunk.length === INSERT_BATCH || (chunk.length > 0 && bytes + size > INSERT_BATCH_BYTES)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(row);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
