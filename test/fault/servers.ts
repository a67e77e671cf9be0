/**
 * Throwaway database servers for the restart scenario: a PostgreSQL cluster or a MariaDB instance
 * in a temporary directory on a free port, started, restarted and stopped by the test. The shared
 * servers (5432, 3306) are never touched: other suites use them at the same time.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import type { ServerName } from './harness.js';

const PG_BIN = process.env.JOBS_FAULT_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const MARIADB_INSTALL = 'mariadb-install-db';
const MARIADBD = process.env.JOBS_FAULT_MARIADBD ?? '/usr/sbin/mariadbd';
const isRoot = process.getuid?.() === 0;

export interface ThrowawayServer {
  /** Base URL (database `test`, created). */
  url: string;
  dir: string;
  /** Stops the server, leaves it down for `downMs`, and starts it again. */
  restart(downMs: number): Promise<void>;
  /**
   * PostgreSQL: stops the server as a crash does (`pg_ctl -m immediate`: no checkpoint, WAL not
   * yet written from its buffers is lost) and starts it again, which replays the WAL.
   */
  crash?(): Promise<void>;
  stop(): Promise<void>;
}

/** Why a throwaway server of this type cannot be started here, or null if it can. */
export function throwawayUnavailable(type: ServerName): string | null {
  if (type === 'postgres') {
    if (!existsSync(join(PG_BIN, 'initdb')))
      return `no PostgreSQL binaries in ${PG_BIN} (set JOBS_FAULT_PG_BIN)`;
    if (isRoot && !which('runuser'))
      return 'running as root, and no runuser to start PostgreSQL as the postgres user';
    return null;
  }
  if (!which(MARIADB_INSTALL) || !existsSync(MARIADBD))
    return `no ${MARIADB_INSTALL} or ${MARIADBD} (set JOBS_FAULT_MARIADBD)`;
  return null;
}

/** `settings`: PostgreSQL only, extra `-c name=value` server settings. */
export function startThrowaway(
  type: ServerName,
  settings: string[] = [],
): Promise<ThrowawayServer> {
  return type === 'postgres' ? startPostgres(settings) : startMariadb();
}

function which(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function must(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.status}):\n${result.stdout}\n${result.stderr}`,
    );
  }
}

/** PostgreSQL refuses to run as root: as root, run its tools as the `postgres` user. */
function asPostgres(tool: string, args: string[]): void {
  const binary = join(PG_BIN, tool);
  if (isRoot) must('runuser', ['-u', 'postgres', '--', binary, ...args]);
  else must(binary, args);
}

async function waitUntilReachable(options: DataSourceOptions, timeout = 60_000): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const probe = new DataSource(options);
    try {
      await probe.initialize();
      await probe.destroy();
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(
          `server at ${JSON.stringify(options)} did not come up: ${(error as Error).message}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function startPostgres(settings: string[]): Promise<ThrowawayServer> {
  const dir = mkdtempSync(join(tmpdir(), 'jobs-fault-pg-'));
  if (isRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const port = await freePort();
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const pgCtl = (...args: string[]) => asPostgres('pg_ctl', ['-D', data, ...args]);
  const start = () =>
    pgCtl(
      '-w',
      '-l',
      join(dir, 'server.log'),
      '-o',
      [
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
        ...settings.map((setting) => `-c ${setting}`),
      ].join(' '),
      'start',
    );
  start();
  const url = `postgres://postgres@127.0.0.1:${port}/test`;
  const admin = new DataSource({
    type: 'postgres',
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
  });
  await admin.initialize();
  await admin.query('CREATE DATABASE test');
  await admin.destroy();
  return {
    url,
    dir,
    async restart(downMs) {
      pgCtl('-w', '-m', 'fast', 'stop');
      await new Promise((resolve) => setTimeout(resolve, downMs));
      start();
    },
    async crash() {
      pgCtl('-w', '-m', 'immediate', 'stop');
      start();
    },
    async stop() {
      pgCtl('-w', '-m', 'immediate', 'stop');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startMariadb(): Promise<ThrowawayServer> {
  const dir = mkdtempSync(join(tmpdir(), 'jobs-fault-mariadb-'));
  const data = join(dir, 'data');
  // A temporary directory of its own: at every start mariadbd deletes the `#sql*` files of its
  // tmpdir, and in the system's /tmp those are the internal temporary tables of the machine's own
  // MariaDB, in use by the suites running beside this one (CI saw a query there fail with "Error on
  // delete of '/tmp/#sql-temptable-...'" while a fault test restarted its server).
  const scratch = join(dir, 'tmp');
  mkdirSync(scratch);
  const port = await freePort();
  const user = isRoot ? ['--user=root'] : [];
  must(MARIADB_INSTALL, [
    '--no-defaults',
    `--datadir=${data}`,
    `--tmpdir=${scratch}`,
    ...user,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
  ]);
  const args = [
    '--no-defaults',
    `--datadir=${data}`,
    `--tmpdir=${scratch}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--socket=${join(dir, 'mysqld.sock')}`,
    `--pid-file=${join(dir, 'mysqld.pid')}`,
    `--log-error=${join(dir, 'server.log')}`,
    '--skip-name-resolve',
    '--innodb-flush-log-at-trx-commit=0',
    ...user,
  ];
  let server: ChildProcess | null = null;
  const base = { type: 'mysql', url: `mysql://root@127.0.0.1:${port}/mysql` } as DataSourceOptions;
  const start = async () => {
    server = spawn(MARIADBD, args, { stdio: 'ignore' });
    await waitUntilReachable(base);
  };
  const stop = async () => {
    const running = server;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM'); // mariadbd shuts down cleanly on SIGTERM
    await exited;
    server = null;
  };
  await start();
  const admin = new DataSource(base);
  await admin.initialize();
  await admin.query('CREATE DATABASE test');
  await admin.destroy();
  return {
    url: `mysql://root@127.0.0.1:${port}/test`,
    dir,
    async restart(downMs) {
      await stop();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await start();
    },
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
