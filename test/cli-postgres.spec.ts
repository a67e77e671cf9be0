/** The CLI's suite (test/support/cli-suite.ts) on PostgreSQL. */
import { backends } from './support/backends.js';
import { cliSuite } from './support/cli-suite.js';

cliSuite(backends.filter((backend) => backend.name === 'postgres'));
