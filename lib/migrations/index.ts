import { JobsSchema1795478400000 } from './jobs-schema.migration.js';

export { JobsSchema1795478400000 };

/**
 * Every migration of the package's tables, oldest first. A release that changes the schema appends
 * a new class here and never edits an old one, so `migrations: [...JOBS_MIGRATIONS, ...]` stays right.
 */
export const JOBS_MIGRATIONS = [JobsSchema1795478400000];
