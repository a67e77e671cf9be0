#!/usr/bin/env node
// `npm test`: type-checks, then runs every suite with jest against SQLite and, when their URLs are
// set, PostgreSQL and MariaDB/MySQL. Says loudly which backends were skipped. With CI=true (or
// JOBS_TEST_REQUIRE_ALL=1) a missing URL is an error, never a skip. Then a second phase, the fault
// suites (test/fault/, see docs/reliability.md), and a third against Nest 11 + TypeORM 0.3
// (test/compat/nest11), where a CommonJS app also installs the packed package and runs a job
// (test/compat/cjs-app.check.mjs). Ends with "N passed, N failed" over every phase.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
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
if (
  run(process.execPath, [
    join(root, 'node_modules/typescript/bin/tsc'),
    '-p',
    'tsconfig.json',
    '--noEmit',
  ]).status !== 0
) {
  console.error('Type check failed.');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

console.log(
  '> tsc -p lib/tsconfig.build.json (dist/, which the suites that start real processes load)',
);
if (
  run(process.execPath, [
    join(root, 'node_modules/typescript/bin/tsc'),
    '-p',
    'lib/tsconfig.build.json',
  ]).status !== 0
) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}

mkdirSync(join(root, 'test-results'), { recursive: true });

const jestArgs = (report, extraArgs) => [
  '--experimental-vm-modules',
  '--no-warnings=ExperimentalWarning',
  join(root, 'node_modules/jest/bin/jest.js'),
  '--json',
  `--outputFile=${report}`,
  ...extraArgs,
  ...process.argv.slice(2),
];

/** Runs one jest phase and reads its counts from the JSON report. */
function jestPhase(reportName, extraArgs, env = process.env) {
  const report = join(root, 'test-results', reportName);
  const result = spawnSync(process.execPath, jestArgs(report, extraArgs), {
    cwd: root,
    stdio: 'inherit',
    env,
  });
  return phaseResult(report, result.status);
}

/**
 * Starts a jest phase beside the others, its output into a file (not a pipe: the phases run with
 * spawnSync meanwhile, and nobody would read a pipe), printed whole by `result()` once it ended.
 */
function jestPhaseBeside(reportName, extraArgs, env) {
  const report = join(root, 'test-results', reportName);
  const log = join(root, 'test-results', `${reportName}.log`);
  const fd = openSync(log, 'w');
  const child = spawn(process.execPath, jestArgs(report, extraArgs), {
    cwd: root,
    env,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const done = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  return {
    done,
    async result() {
      const code = await done;
      process.stdout.write(readFileSync(log));
      return phaseResult(report, code);
    },
  };
}

/** Starts a jest phase whose output goes straight to this process's (the main phase's). */
function jestPhaseLive(reportName, extraArgs, env = process.env) {
  const report = join(root, 'test-results', reportName);
  const child = spawn(process.execPath, jestArgs(report, extraArgs), {
    cwd: root,
    env,
    stdio: 'inherit',
  });
  const done = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  return { done, result: async () => phaseResult(report, await done) };
}

function phaseResult(report, status) {
  let counts = {
    numPassedTests: 0,
    numFailedTests: 0,
    numPendingTests: 0,
    numRuntimeErrorTestSuites: 0,
  };
  try {
    counts = JSON.parse(readFileSync(report, 'utf8'));
  } catch {
    counts.numFailedTests = 1; // jest did not get as far as writing its report
  }
  return { ok: status === 0, counts };
}

/**
 * Starts a check script that ends with "N passed, N failed" beside the phases (its output into a
 * file, printed by `result()`); its counts join the suites'.
 */
function checkPhaseBeside(script) {
  const log = join(root, 'test-results', `${script.replace(/.*\//, '')}.log`);
  const fd = openSync(log, 'w');
  const child = spawn(process.execPath, [script], { cwd: root, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const done = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  return {
    async result() {
      const status = await done;
      const output = readFileSync(log, 'utf8');
      process.stdout.write(output);
      return checkResult(status, output);
    },
  };
}

function checkResult(status, stdout) {
  const counted = /(\d+) passed, (\d+) failed\s*$/.exec(stdout);
  return {
    ok: status === 0,
    counts: {
      numPassedTests: counted ? Number(counted[1]) : 0,
      numFailedTests: counted ? Number(counted[2]) : 1,
      numPendingTests: 0,
      numRuntimeErrorTestSuites: 0,
    },
  };
}

// A file or pattern given on the command line may belong to either phase.
const narrowed = process.argv.length > 2 ? ['--passWithNoTests'] : [];
const config = ['-c', join(root, 'test/jest.config.mjs')];
const phases = [];
/** The fault phase's lanes, running beside the others once started. */
const faultLanes = [];

// The fault suites (test/fault/), real worker processes against the servers, started first and
// beside the other phases (they mostly wait on leases, kills and restarts, on databases of their
// own). In two lanes, each one suite at a time: transaction.fault.ts (its own throwaway servers,
// about half of the phase's time) with crash.fault.ts, and the others;
// narrowed to given files, in one. Required in CI; elsewhere it runs when a server URL is set.
const faultSkipReason =
  !requireAll && process.env.JOBS_TEST_FAULT === '0'
    ? 'JOBS_TEST_FAULT=0'
    : !requireAll && missing.length === servers.length
      ? 'no server URL is set: it needs JOBS_TEST_POSTGRES_URL and/or JOBS_TEST_MYSQL_URL'
      : null;
if (faultSkipReason) {
  console.log(`\nFault phase SKIPPED: ${faultSkipReason}. See docs/reliability.md.`);
} else {
  console.log(
    '\n> fault phase: test/fault/**/*.fault.ts, in band per lane (worker processes, database restarts)',
  );
  const size = process.env.JOBS_FAULT_SIZE
    ? ` with JOBS_FAULT_SIZE=${process.env.JOBS_FAULT_SIZE}`
    : '';
  console.log(`  real OS processes against each server backend${size}`);
  console.log(
    '  (beside the other phases: it mostly waits on leases, restarts and kills; its output comes last)',
  );
  rmSync(join(root, 'test-results', 'fault'), { recursive: true, force: true }); // this run's figures only
  const faultEnv = { ...process.env, JOBS_TEST_PHASE: 'fault' };
  const inBand = [...config, '--runInBand'];
  if (narrowed.length) {
    faultLanes.push(jestPhaseBeside('jest-fault.json', [...inBand, ...narrowed], faultEnv));
  } else {
    // transaction.fault.ts and crash.fault.ts in one lane (its own database prefix: crash.fault.ts
    // uses the shared servers' <prefix>_fault database, as the other lane's suites do).
    const apart = 'test/fault/(transaction|crash)\\.fault\\.ts$';
    faultLanes.push(
      jestPhaseBeside(
        'jest-fault.json',
        [...inBand, '--testPathIgnorePatterns', '/node_modules/', apart],
        faultEnv,
      ),
      jestPhaseBeside('jest-fault-tx.json', [...inBand, apart], {
        ...faultEnv,
        JOBS_TEST_DB_PREFIX: `${process.env.JOBS_TEST_DB_PREFIX ?? 'jobs_test'}_t`,
      }),
    );
  }
}

// Then the suites again against Nest 11 + TypeORM 0.3, installed apart in test/compat/nest11
// (`npm ci --prefix test/compat/nest11`; see test/compat/README.md). Required in CI; elsewhere it runs with
// JOBS_TEST_NEST11=1.
const failedCheck = () => ({
  ok: false,
  counts: {
    numPassedTests: 0,
    numFailedTests: 1,
    numPendingTests: 0,
    numRuntimeErrorTestSuites: 0,
  },
});
const nest11Installed = existsSync(join(root, 'test/compat/nest11/node_modules/@nestjs/core'));
const nest11SkipReason =
  requireAll || process.env.JOBS_TEST_NEST11 === '1'
    ? null
    : 'set JOBS_TEST_NEST11=1 to run it (after npm ci --prefix test/compat/nest11)';
// The CommonJS app's check (test/compat/cjs-app: Nest 11 from test/compat/nest11, the package
// packed into a folder of its own) shares nothing with the suites: it runs beside them.
const cjsCheck =
  !nest11SkipReason &&
  nest11Installed &&
  (!narrowed.length || process.argv.slice(2).some((arg) => arg.includes('cjs')))
    ? checkPhaseBeside(join(root, 'test/compat/cjs-app.check.mjs'))
    : null;

// The suites that start processes of their own (test/*.processes.spec.ts: several app instances
// racing for limits, cancels, flows), one at a time in a lane beside the main phase, on databases
// of their own (another prefix): they mostly wait on their children, and in the main phase they
// held three of its four workers for two to three minutes each. Narrowed runs keep them there.
const PROCESS_SUITES = '\\.processes\\.spec\\.ts$';
const processLane = narrowed.length
  ? null
  : jestPhaseBeside('jest-processes.json', [...config, '--runInBand', PROCESS_SUITES], {
      ...process.env,
      JOBS_TEST_DB_PREFIX: `${process.env.JOBS_TEST_DB_PREFIX ?? 'jobs_test'}_p`,
    });

// The suites, on every backend.
const mainPhase = jestPhaseLive('jest.json', [
  ...config,
  ...narrowed,
  ...(processLane ? ['--testPathIgnorePatterns', '/node_modules/', PROCESS_SUITES] : []),
]);

// Then the suites again against Nest 11 + TypeORM 0.3: once the process lane has ended (its share
// of the machine free), beside the main phase's last files, on databases of their own (another
// prefix); a narrowed run starts it after the main phase.
let nest11Phase = null;
if (nest11SkipReason) {
  console.log(`\nNest 11 phase SKIPPED: ${nest11SkipReason}.`);
} else if (!nest11Installed) {
  console.error(
    '\nNest 11 phase: test/compat/nest11 is not installed; run npm ci --prefix test/compat/nest11.',
  );
  phases.push(failedCheck());
} else {
  await (processLane ?? mainPhase).done;
  console.log(
    '\n> Nest 11 phase: lib/ type-checked against Nest 11, @nestjs/typeorm 11 and TypeORM 0.3 (test/compat/nest11)',
  );
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  if (run(process.execPath, [tsc, '-p', 'test/compat/tsconfig.nest11.json']).status !== 0) {
    console.error('Type check against Nest 11 / TypeORM 0.3 failed.');
    phases.push(failedCheck());
  }
  console.log('> Nest 11 phase: the suites against the same packages (their output below)');
  nest11Phase = jestPhaseBeside(
    'jest-nest11.json',
    ['-c', join(root, 'test/compat/jest.nest11.config.mjs'), ...narrowed],
    { ...process.env, JOBS_TEST_DB_PREFIX: `${process.env.JOBS_TEST_DB_PREFIX ?? 'jobs_test'}_n` },
  );
}

phases.push(await mainPhase.result());
if (processLane) {
  console.log('\n> the suites that start processes (ran beside the main phase): their output');
  phases.push(await processLane.result());
}
if (nest11Phase) {
  console.log(
    '\n> Nest 11 phase: the suites against Nest 11 and TypeORM 0.3 (ran beside): their output',
  );
  phases.push(await nest11Phase.result());
}
if (cjsCheck) {
  console.log(
    '\n> Nest 11 phase: a CommonJS app installs the packed package and runs a job (test/compat/cjs-app, ran beside)',
  );
  phases.push(await cjsCheck.result());
}

for (const lane of faultLanes) {
  console.log('\n> fault phase (ran beside the other phases): the output of a lane');
  phases.push(await lane.result());
}

const total = (key) => phases.reduce((sum, phase) => sum + phase.counts[key], 0);
if (missing.length)
  console.log(`\nSkipped backends: ${missing.join(', ')} (see above for how to enable them).`);
if (faultSkipReason) console.log(`Skipped: the fault phase (${faultSkipReason}).`);
if (nest11SkipReason) console.log('Skipped: the Nest 11 phase (JOBS_TEST_NEST11=1 runs it).');
const failed = total('numFailedTests') + total('numRuntimeErrorTestSuites');
console.log(
  `${total('numPassedTests')} passed, ${failed} failed, ${total('numPendingTests')} skipped`,
);
process.exit(phases.every((phase) => phase.ok) && failed === 0 ? 0 : 1);
