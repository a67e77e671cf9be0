// `npm run bench` at the repository root: installs bench/'s own dependencies if missing, builds the
// library, then measures it beside graphile-worker and pg-boss and writes bench/RESULTS.md.
// Sizes and repetitions come from the environment; see README.md.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
  !existsSync(join(benchDir, 'node_modules', 'graphile-worker')) ||
  !existsSync(join(benchDir, 'node_modules', 'pg-boss'))
) {
  console.log('bench: installing bench/ dependencies (graphile-worker, pg-boss) with npm ci');
  step('npm', ['ci', '--no-audit', '--no-fund'], benchDir);
}
if (process.env.BENCH_SKIP_BUILD !== '1') {
  console.log('bench: building the library (npm run build -> dist/)');
  step('npm', ['run', 'build'], rootDir);
}

const { main } = await import('./src/main.mjs');
await main();
