#!/usr/bin/env node
// A Nest 11 app compiled to CommonJS uses the packed package (ESM), as a user's app would: builds the
// package into a private folder (never the repository's dist/), packs it with `npm pack`, unpacks the
// tarball into a temporary app's node_modules beside Nest 11 + TypeORM 0.3 from test/compat/nest11
// (symlinked, so nothing is downloaded), and then, per check below: compiles test/compat/cjs-app
// with a tsconfig, starts it on SQLite and expects its job to succeed with one copy of each
// framework package loaded; or runs the app's e2e test under the jest config `nest new` writes.
// Prints one line per check and "N passed, N failed"; exits 1 if any failed.
//
//   node test/compat/cjs-app.check.mjs            (after npm ci --prefix test/compat/nest11)
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const nest11 = join(root, 'test/compat/nest11/node_modules');
const appSource = join(root, 'test/compat/cjs-app');
const tsc = join(root, 'node_modules/typescript/bin/tsc');

/** What each check stands for -> how it is run in an installed copy of the app. */
const CHECKS = {
  'Nest CLI build tsconfig (module commonjs, target ES2021)': (app) =>
    startApp(app, 'tsconfig.build.json'),
  'module nodenext, isolatedModules, target ES2023': (app) =>
    startApp(app, 'tsconfig.nodenext.json'),
  "the app's e2e test under Nest's jest config (ts-jest) with transformIgnorePatterns": (app) =>
    e2eTest(app),
};

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000, ...options });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ?? ''}`.trim();
    throw new Error(`${[command, ...args].join(' ')} failed:\n${output}`);
  }
  return result.stdout;
}

/** The package as npm would publish it: dist/ built apart, packed from a copy of the package files. */
function packTarball(work) {
  const pkg = join(work, 'package');
  mkdirSync(pkg);
  run(process.execPath, [
    tsc,
    '-p',
    join(root, 'lib/tsconfig.build.json'),
    '--outDir',
    join(pkg, 'dist'),
  ]);
  for (const file of ['package.json', 'README.md', 'CHANGELOG.md'])
    cpSync(join(root, file), join(pkg, file));
  const name = run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: pkg })
    .trim()
    .split('\n')
    .pop();
  return join(work, name);
}

/**
 * The app's node_modules: the tarball unpacked, its own dependencies and the database driver from the
 * root install, everything else Nest 11's. Node resolves symlinks to real paths, so the app and the
 * package reach the very same files.
 */
function installApp(work, tarball, name) {
  const app = join(work, `app-${name.replace(/\W+/g, '-').slice(0, 40)}`);
  cpSync(appSource, app, {
    recursive: true,
    filter: (path) =>
      !['dist', 'node_modules'].some((skip) => path.startsWith(join(appSource, skip))),
  });
  const modules = join(app, 'node_modules');
  mkdirSync(join(modules, '@types'), { recursive: true });
  for (const entry of readdirSync(nest11)) {
    if (entry !== '@types') symlinkSync(join(nest11, entry), join(modules, entry));
  }
  for (const entry of readdirSync(join(nest11, '@types'))) {
    symlinkSync(join(nest11, '@types', entry), join(modules, '@types', entry));
  }
  if (!existsSync(join(modules, '@types/node'))) {
    symlinkSync(join(root, 'node_modules/@types/node'), join(modules, '@types/node'));
  }
  const installed = join(modules, 'nestjs-typeorm-jobs');
  mkdirSync(installed);
  run('tar', ['xzf', tarball, '-C', installed, '--strip-components=1']);
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
  for (const dependency of [...Object.keys(manifest.dependencies ?? {}), 'better-sqlite3']) {
    symlinkSync(join(root, 'node_modules', dependency), join(modules, dependency));
  }
  return app;
}

/** Compiles the app with `tsconfig`, starts it and returns its report (a JSON line). */
function startApp(app, tsconfig) {
  run(process.execPath, [tsc, '-p', join(app, tsconfig)]);
  const started = spawnSync(process.execPath, [join(app, 'dist/main.js')], {
    cwd: app,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, CJS_APP_DATABASE: join(app, 'app.db') },
  });
  if (started.status !== 0) {
    throw new Error(
      `the app exited ${started.status ?? started.signal}:\n${started.stdout}${started.stderr}`,
    );
  }
  return `ran a job: ${started.stdout.trim().split('\n').pop()}`;
}

/** Runs test/app.e2e-spec.ts with the app's jest and ts-jest (Nest 11's, from test/compat/nest11). */
function e2eTest(app) {
  const jest = join(app, 'node_modules/jest/bin/jest.js');
  const result = spawnSync(process.execPath, [jest, '--config', 'test/jest-e2e.json', '--ci'], {
    cwd: app,
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, CJS_APP_DATABASE: join(app, 'e2e.db') },
  });
  const output = `${result.stdout}${result.stderr}`;
  if (result.status !== 0)
    throw new Error(`jest exited ${result.status ?? result.signal}:\n${output}`);
  return output.match(/^Tests:.*$/m)?.[0] ?? 'passed';
}

const work = mkdtempSync(join(tmpdir(), 'jobs-cjs-app-'));
let passed = 0;
let failed = 0;
try {
  const tarball = packTarball(work);
  for (const [meaning, check] of Object.entries(CHECKS)) {
    try {
      const outcome = check(installApp(work, tarball, meaning));
      passed += 1;
      console.log(`  ✓ CommonJS app, ${meaning}: ${outcome}`);
    } catch (error) {
      failed += 1;
      console.log(`  ✕ CommonJS app, ${meaning}: ${error.message}`);
    }
  }
} catch (error) {
  failed = Object.keys(CHECKS).length;
  console.log(`  ✕ CommonJS app: could not pack the package: ${error.message}`);
}
if (failed === 0) rmSync(work, { recursive: true, force: true });
else console.log(`  (kept ${work} to look into)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
