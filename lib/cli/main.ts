#!/usr/bin/env node
/**
 * `npx nestjs-typeorm-jobs <command>`: boots the app's own module as a Nest application context
 * (no HTTP server, the background runner off) and acts through JobsService. See docs/cli.md.
 */
import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { parseCommand } from './cli.args.js';
import { COMMANDS, type Command } from './cli.commands.js';
import {
  bootApp,
  DEFAULT_MODULE,
  loadModule,
  MODULE_ENV,
  moduleReference,
  quietNestLogs,
} from './cli.context.js';
import { CliUsageError, EXIT_JOB_FAILURE, EXIT_OK, EXIT_USAGE } from './cli.errors.js';

const GLOBAL_HELP = `Options of every command:
  -m, --module <file.js>[#Export]  the compiled module that imports JobsModule (default export name
                                   AppModule; default file ${DEFAULT_MODULE}; or ${MODULE_ENV})
      --json                       print the outcome as one JSON object
      --verbose                    show Nest's log lines (on stderr)
  -h, --help                       this help, or a command's with <command> --help
Exit codes: 0 ok, 1 a job failed or could not be acted on, 2 usage error.`;

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return [
    'Usage: nestjs-typeorm-jobs <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    GLOBAL_HELP,
  ].join('\n');
}

function commandHelp(command: Command): string {
  return [
    `Usage: nestjs-typeorm-jobs ${command.usage} [--module <file.js>[#Export]] [--json]`,
    '',
    command.help,
    '',
    GLOBAL_HELP,
  ].join('\n');
}

function print(stream: NodeJS.WriteStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    print(name === undefined ? process.stderr : process.stdout, mainHelp());
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  const json = rest.includes('--json');
  let app: INestApplicationContext | null = null;
  try {
    if (!command)
      throw new CliUsageError(`unknown command "${name}"`, 'nestjs-typeorm-jobs --help lists them');
    const { options, positionals } = parseCommand<Record<string, unknown>>(rest, command.options);
    if (options.help) {
      print(process.stdout, commandHelp(command));
      return EXIT_OK;
    }
    const act = await command.prepare(positionals, options);
    const { file, exportName } = moduleReference(options.module);
    quietNestLogs(options.verbose === true);
    app = await bootApp(await loadModule(file, exportName), options.verbose === true);
    // SIGTERM during `run` lets the running jobs finish, or releases them for the next run.
    app.enableShutdownHooks();
    const result = await act(app);
    print(process.stdout, options.json ? JSON.stringify(result.json) : result.text);
    return result.exitCode;
  } catch (error) {
    const usage = error instanceof CliUsageError;
    const message = (error as Error)?.message ?? String(error);
    if (json) {
      print(
        process.stdout,
        JSON.stringify({ error: message, ...(usage && error.hint ? { hint: error.hint } : {}) }),
      );
    }
    print(process.stderr, `nestjs-typeorm-jobs: ${message}`);
    if (usage && error.hint) print(process.stderr, `  ${error.hint}`);
    if (!usage && process.env.JOBS_CLI_DEBUG)
      print(process.stderr, String((error as Error)?.stack));
    return usage ? EXIT_USAGE : EXIT_JOB_FAILURE;
  } finally {
    await app?.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
// Anything the app left open (a pool, a timer) must not keep a cron job alive; stdout is flushed first.
setTimeout(() => process.exit(), 5_000).unref();
