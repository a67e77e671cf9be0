import { fileURLToPath } from 'node:url';
import type { TypeOrmModuleOptions } from '@nestjs/typeorm';

/** How the sample is started; every field falls back to the environment, then to a default. */
export interface SampleAppOptions {
  /** SQLite file. Env JOBS_SAMPLE_DB; default sample-app/jobs.db. */
  database?: string;
  /**
   * A PostgreSQL or MariaDB/MySQL URL to use instead of the SQLite file.
   * Env JOBS_SAMPLE_DATABASE_URL; default none.
   */
  databaseUrl?: string;
  /** Run jobs in the background. The cron script turns it off and runs them itself. Default true. */
  runner?: boolean;
}

/** Next to src/ and dist/ alike, so it does not depend on the directory the app is started from. */
const DEFAULT_SQLITE_FILE = fileURLToPath(new URL('../jobs.db', import.meta.url));

export function typeOrmOptions(options: SampleAppOptions): TypeOrmModuleOptions {
  const common = { autoLoadEntities: true, synchronize: true } as const;
  const url = options.databaseUrl ?? process.env.JOBS_SAMPLE_DATABASE_URL;
  if (url) return { ...common, type: serverType(url), url };
  return {
    ...common,
    type: 'better-sqlite3',
    database: options.database ?? process.env.JOBS_SAMPLE_DB ?? DEFAULT_SQLITE_FILE,
    // WAL and a busy timeout let the cron script share the file with a running server.
    enableWAL: true,
    timeout: 10_000,
  };
}

function serverType(url: string): 'postgres' | 'mysql' | 'mariadb' {
  const scheme = new URL(url).protocol.slice(0, -1);
  if (scheme === 'postgres' || scheme === 'postgresql') return 'postgres';
  if (scheme === 'mysql' || scheme === 'mariadb') return scheme;
  throw new Error(
    `JOBS_SAMPLE_DATABASE_URL must start with postgres://, mysql:// or mariadb://, not ${scheme}://`,
  );
}
