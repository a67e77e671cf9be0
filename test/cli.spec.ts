/**
 * The CLI's usage (no database), and its suite on SQLite (test/support/cli-suite.ts; the servers'
 * in cli-postgres.spec.ts and cli-mariadb.spec.ts).
 */
import { backends } from './support/backends.js';
import { cli, cliSuite, MODULE, spawnCli } from './support/cli-suite.js';

describe('cli usage', () => {
  it('lists the commands with --help, and each command has its own --help', async () => {
    const help = await spawnCli(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['run', 'enqueue', 'stats', 'retry-failed', 'cancel', 'prune']) {
      expect(help.stdout).toContain(command);
    }
    const prune = await cli(['prune', '--help']);
    expect(prune.code).toBe(0);
    expect(prune.stdout).toContain('--older-than');
  });

  it('exits 2 on usage errors, before connecting to anything', async () => {
    // The binary's own exit codes; then the same checks through the CLI host.
    expect((await spawnCli([])).code).toBe(2);
    const unknown = await spawnCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    expect((await cli(['prune', ...MODULE])).code).toBe(2);
    expect((await cli(['prune', '--older-than', 'soon', ...MODULE])).code).toBe(2);
    expect(
      (await cli(['prune', '--older-than', '1d', '--status', 'pending', ...MODULE])).code,
    ).toBe(2);
    expect((await cli(['cancel', 'abc', ...MODULE])).code).toBe(2);
    expect((await cli(['enqueue', 'cli.echo', '{not json', ...MODULE])).code).toBe(2);
    expect((await cli(['stats', '--no-such-option', ...MODULE])).code).toBe(2);
    const missing = await cli(['stats', '--module', 'nowhere.js', '--json']);
    expect(missing.code).toBe(2);
    expect(missing.json.error).toContain('cannot find the app module file');
  });
  it('refuses values past what the database or a Date holds with exit 2, before the app boots', async () => {
    for (const [args, names] of [
      [['--delay', '100000000d'], '--delay'],
      [['--delay', '1h30x'], '--delay'],
      [['--priority', '99999999999'], '--priority'],
      [['--priority', '-2147483649'], '--priority'],
      [['--max-attempts', '2147483648'], '--max-attempts'],
    ] as const) {
      const refused = await cli(['enqueue', 'cli.echo', '{}', ...args, '--json', ...MODULE]);
      expect([args, refused.code]).toEqual([args, 2]);
      expect(refused.json.error).toContain(names);
    }
    const deep = await cli([
      'enqueue',
      'cli.echo',
      `${'['.repeat(40)}${']'.repeat(40)}`,
      '--json',
      ...MODULE,
    ]);
    expect(deep.code).toBe(2);
    expect(deep.json.error).toContain('nested 32 levels');
  });
});

cliSuite(backends.filter((backend) => backend.name === 'sqlite'));
