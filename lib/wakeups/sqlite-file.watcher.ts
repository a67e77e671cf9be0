import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { DataSource } from 'typeorm';

/**
 * Other processes that share a SQLite file send no NOTIFY; their commits change the file (in WAL
 * mode, its `-wal` file). The operating system tells of that (inotify, FSEvents, ...) without a
 * statement: on a change, `changed()` is called (at most once per turn of the event loop), and the
 * runner claims if it is idle. A platform or file system without watches (some network mounts)
 * loses nothing: the poll finds the jobs, as before.
 */
export class SqliteFileWatcher {
  private watcher: FSWatcher | null = null;
  private queued = false;

  private constructor(
    private readonly path: string,
    private readonly changed: () => void,
  ) {}

  /** A watcher of the data source's file; null for other databases and in-memory SQLite. */
  static of(dataSource: DataSource, changed: () => void): SqliteFileWatcher | null {
    const type = String(dataSource.options.type);
    if (type !== 'better-sqlite3' && type !== 'sqlite') return null;
    const database = (dataSource.options as { database?: unknown }).database;
    if (typeof database !== 'string' || database === '' || database.startsWith(':memory:')) {
      return null;
    }
    if (database.startsWith('file:')) return null; // a URI: its path and mode are SQLite's to read
    return new SqliteFileWatcher(resolve(database), changed);
  }

  start(): void {
    if (this.watcher) return;
    const name = basename(this.path);
    // The directory, not the files: the -wal file comes and goes (the last connection deletes it).
    const names = new Set([name, `${name}-wal`]);
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
        if (file !== null && !names.has(String(file))) return;
        if (this.queued) return;
        this.queued = true;
        setImmediate(() => {
          this.queued = false;
          if (this.watcher) this.changed();
        });
      });
      this.watcher.on('error', () => this.stop());
    } catch {
      this.watcher = null;
    }
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = null;
  }
}
