#!/usr/bin/env node
// `npm test`: type-checks, then runs every suite with jest against SQLite and, when their URLs are
// set, PostgreSQL and MariaDB/MySQL. Says loudly which backends were skipped. With CI=true (or
// JOBS_TEST_REQUIRE_ALL=1) a missing URL is an error, never a skip. Ends with "N passed, N failed".
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const requireAll = process.env.CI === 'true' || process.env.JOBS_TEST_REQUIRE_ALL === '1';
const servers = [
  ['PostgreSQL', 'JOBS_TEST_POSTGRES_URL', 'postgres://postgres@127.0.0.1:5432/test'],
  ['MariaDB/MySQL', 'JOBS_TEST_MYSQL_URL', 'mysql://root@127.0.0.1:3306/test'],
];

console.log('Backends:');
console.log('  SQLite         runs (better-sqlite3, a temporary file per test)');
const missing = [];
for (const [name, variable, example] of servers) {
  if (process.env[variable]) {
    console.log(`  ${name.padEnd(14)} runs (${variable}=${process.env[variable]})`);
  } else {
    missing.push(name);
    console.log(`  ${name.padEnd(14)} SKIPPED: set ${variable}, e.g. ${variable}=${example}`);
  }
}
if (missing.length && requireAll) {
  console.error(`\nEvery backend is required here (CI), but ${missing.join(' and ')} has no URL.`);
  process.exit(1);
}

const run = (command, args) => spawnSync(command, args, { cwd: root, stdio: 'inherit' });

console.log('\n> tsc --noEmit');
if (run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--noEmit']).status !== 0) {
  console.error('Type check failed.');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

console.log('> tsc -p tsconfig.build.json (dist/, which the suites that start real processes load)');
if (run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json']).status !== 0) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}

mkdirSync(join(root, 'test-results'), { recursive: true });
const report = join(root, 'test-results', 'jest.json');
const jest = run(process.execPath, [
  '--experimental-vm-modules',
  '--no-warnings=ExperimentalWarning',
  join(root, 'node_modules/jest/bin/jest.js'),
  '--json',
  `--outputFile=${report}`,
  ...process.argv.slice(2),
]);

let counts = { numPassedTests: 0, numFailedTests: 0, numPendingTests: 0, numRuntimeErrorTestSuites: 0 };
try {
  counts = JSON.parse(readFileSync(report, 'utf8'));
} catch {
  counts.numFailedTests = 1; // jest did not get as far as writing its report
}
if (missing.length) console.log(`\nSkipped backends: ${missing.join(', ')} (see above for how to enable them).`);
const failed = counts.numFailedTests + counts.numRuntimeErrorTestSuites;
console.log(`${counts.numPassedTests} passed, ${failed} failed, ${counts.numPendingTests} skipped`);
process.exit(jest.status === 0 && failed === 0 ? 0 : 1);
