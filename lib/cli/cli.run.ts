/**
 * The CLI's commands as a function of argv and streams (main.ts is the binary around it). See
 * docs/cli.md.
 */
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
import type { CliIo } from './cli.io.js';

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

function line(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

/**
 * One CLI command, start to end: parse, check before anything boots, boot the app's module with its
 * runner off, act, print, close. Returns the exit code; never exits the process.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout)(line(mainHelp()));
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
      io.stdout(line(commandHelp(command)));
      return EXIT_OK;
    }
    const act = await command.prepare(positionals, options, io);
    const { file, exportName } = moduleReference(options.module, io);
    quietNestLogs(options.verbose === true, io);
    app = await bootApp(await loadModule(file, exportName), options.verbose === true, io);
    // SIGTERM during `run` lets the running jobs finish, or releases them for the next run.
    app.enableShutdownHooks();
    const result = await act(app);
    io.stdout(line(options.json ? JSON.stringify(result.json) : result.text));
    return result.exitCode;
  } catch (error) {
    const usage = error instanceof CliUsageError;
    const message = (error as Error)?.message ?? String(error);
    if (json) {
      io.stdout(
        line(
          JSON.stringify({ error: message, ...(usage && error.hint ? { hint: error.hint } : {}) }),
        ),
      );
    }
    io.stderr(line(`nestjs-typeorm-jobs: ${message}`));
    if (usage && error.hint) io.stderr(line(`  ${error.hint}`));
    if (!usage && io.env.JOBS_CLI_DEBUG) io.stderr(line(String((error as Error)?.stack)));
    return usage ? EXIT_USAGE : EXIT_JOB_FAILURE;
  } finally {
    await app?.close();
  }
}
