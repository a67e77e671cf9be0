// `npm run bench` at the repository root: installs bench/'s own dependencies if missing, builds the
// library (and, with BENCH_BASELINE=<git ref>, that ref's library in a directory of its own), then
// measures it beside graphile-worker, pg-boss and BullMQ and writes bench/RESULTS.md.
// Sizes and repetitions come from the environment; see README.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = dirname(fileURLToPath(import.meta.url));
const rootDir = join(benchDir, '..');

function step(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`bench: \`${command} ${args.join(' ')}\` failed in ${cwd}`);
    process.exit(result.status ?? 1);
  }
}

if (
  ['graphile-worker', 'pg-boss', 'bullmq', 'ioredis'].some(
    (name) => !existsSync(join(benchDir, 'node_modules', name)),
  )
) {
  console.log(
    'bench: installing bench/ dependencies (graphile-worker, pg-boss, BullMQ) with npm ci',
  );
  step('npm', ['ci', '--no-audit', '--no-fund'], benchDir);
}
// With BENCH_OURS=<ref>, ours is that commit's library, built apart (below): dist/ is not needed.
if (process.env.BENCH_SKIP_BUILD !== '1' && !process.env.BENCH_OURS) {
  console.log('bench: building the library (npm run build -> dist/)');
  step('npm', ['run', 'build'], rootDir);
}

/**
 * BENCH_BASELINE=<git ref> (and BENCH_OURS=<git ref>): that commit's library, built once into a
 * directory of its own in the temp directory (`git archive` of the commit, the repository's
 * node_modules linked in, the repository's tsc), never into the repository's dist/ or working tree.
 * Returns the path of its dist/index.js.
 */
function buildBaseline(ref, variable = 'BENCH_BASELINE') {
  const parsed = spawnSync('git', ['rev-parse', '--verify', `${ref}^{commit}`], {
    cwd: rootDir,
    encoding: 'utf8',
  });
  if (parsed.status !== 0) {
    console.error(`bench: ${variable}=${ref} is not a commit of this repository`);
    process.exit(1);
  }
  const sha = parsed.stdout.trim();
  const dir = join(tmpdir(), 'nestjs-typeorm-jobs-bench', `baseline-${sha.slice(0, 12)}`);
  const built = join(dir, '.built');
  if (!existsSync(built)) {
    console.log(`bench: building ${ref} (${sha.slice(0, 12)}) in ${dir}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const archive = spawnSync(
      'git',
      ['archive', '--format=tar', sha, 'lib', 'package.json', 'tsconfig.json'],
      {
        cwd: rootDir,
        maxBuffer: 1 << 30,
      },
    );
    if (archive.status !== 0) {
      console.error(`bench: git archive ${sha} failed: ${archive.stderr}`);
      process.exit(1);
    }
    const untar = spawnSync('tar', ['-x', '-C', dir], { input: archive.stdout });
    if (untar.status !== 0) {
      console.error(`bench: tar failed: ${untar.stderr}`);
      process.exit(1);
    }
    // The same dependencies, so the baseline and this tree load one Nest and one TypeORM.
    symlinkSync(join(rootDir, 'node_modules'), join(dir, 'node_modules'), 'dir');
    step(join(rootDir, 'node_modules', '.bin', 'tsc'), ['-p', 'lib/tsconfig.build.json'], dir);
    writeFileSync(built, `${sha}\n`);
  }
  return { sha, dist: join(dir, 'dist', 'index.js') };
}

if (process.env.BENCH_BASELINE) {
  const { sha, dist } = buildBaseline(process.env.BENCH_BASELINE);
  process.env.BENCH_BASELINE_SHA = sha;
  process.env.BENCH_BASELINE_DIST = dist;
}

// BENCH_OURS=<git ref>: the columns "ours" load that commit's library (built as the baseline is)
// instead of dist/, so a run measures one commit whatever happens to dist/ or the working tree
// meanwhile (others may rebuild dist/ on a shared machine). ours.mjs reads BENCH_OURS_DIST.
if (process.env.BENCH_OURS) {
  const { sha, dist } = buildBaseline(process.env.BENCH_OURS, 'BENCH_OURS');
  process.env.BENCH_OURS_SHA = sha;
  process.env.BENCH_OURS_DIST = dist;
}

const { main } = await import('./src/main.mjs');
await main();
