import {
  Injectable,
  Logger,
  Module,
  type DynamicModule,
  type INestApplicationContext,
  type LoggerService,
  type OnModuleInit,
  type Type,
} from '@nestjs/common';
import { ModuleRef, NestFactory } from '@nestjs/core';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { JOBS_RESOLVED_OPTIONS } from '../jobs.constants.js';
import type { ResolvedJobsOptions } from '../interfaces/jobs-module-options.interface.js';
import { CliUsageError } from './cli.errors.js';
import type { CliIo } from './cli.io.js';

/** Read when `--module` is not given. */
export const MODULE_ENV = 'JOBS_CLI_MODULE';
/** Tried when neither `--module` nor the variable is given: where `nest build` puts the root module. */
export const DEFAULT_MODULE = 'dist/app.module.js';
const DEFAULT_EXPORT = 'AppModule';

type NestModule = Type<unknown> | DynamicModule;

/** `path[#Export]` from the option, the variable or the default, resolved against the working directory. */
export function moduleReference(
  option: string | undefined,
  io: Pick<CliIo, 'cwd' | 'env'>,
): { file: string; exportName: string } {
  const reference = option ?? io.env[MODULE_ENV] ?? DEFAULT_MODULE;
  const hash = reference.lastIndexOf('#');
  const path = hash === -1 ? reference : reference.slice(0, hash);
  const exportName = hash === -1 ? DEFAULT_EXPORT : reference.slice(hash + 1);
  const file = resolve(io.cwd, path);
  if (!existsSync(file)) {
    throw new CliUsageError(
      `cannot find the app module file ${file}`,
      `name it with --module <file.js>[#ExportName] or ${MODULE_ENV}; compiled JavaScript, not TypeScript`,
    );
  }
  return { file, exportName: exportName || DEFAULT_EXPORT };
}

const MODULE_METADATA_KEYS = ['imports', 'providers', 'controllers', 'exports'];

function isDynamicModule(value: unknown): value is DynamicModule {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as DynamicModule).module === 'function'
  );
}

/** Sends Nest's log lines to stderr, from before the app's files are imported (they may log on import). */
export function quietNestLogs(verbose: boolean, io: Pick<CliIo, 'stderr'>): void {
  Logger.overrideLogger(stderrLogger(verbose, io));
}

/** Imports the file and picks the module: a class, or a configured dynamic module (`AppModule.forRoot(...)`). */
export async function loadModule(file: string, exportName: string): Promise<NestModule> {
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CliUsageError(`cannot import ${file}: ${(error as Error).message}`);
  }
  const exported = await namespace[exportName];
  if (exported === undefined) {
    const names = Object.keys(namespace).join(', ') || 'nothing';
    throw new CliUsageError(
      `${file} has no export named ${exportName} (it exports ${names})`,
      'add #ExportName to --module',
    );
  }
  if (isDynamicModule(exported)) return exported;
  if (typeof exported !== 'function') {
    throw new CliUsageError(
      `${exportName} in ${file} is neither a Nest module class nor a dynamic module`,
    );
  }
  const declared = MODULE_METADATA_KEYS.some(
    (key) => Reflect.getMetadata(key, exported) !== undefined,
  );
  if (!declared && typeof (exported as { forRoot?: unknown }).forRoot === 'function') {
    throw new CliUsageError(
      `${exportName} in ${file} is configured through ${exportName}.forRoot(...), which the CLI cannot call for you`,
      `write a small file that exports the configured module, e.g. export const JobsCliModule = ${exportName}.forRoot({ ... }); and point --module at it with #JobsCliModule (see docs/cli.md)`,
    );
  }
  return exported as Type<unknown>;
}

/**
 * Turns the background runner off before any instance bootstraps: the CLI runs jobs only when asked
 * (`run`), and must never start claiming jobs because it booted the app to count or enqueue them.
 * Every `onModuleInit` runs before the first `onApplicationBootstrap`, where the runner starts.
 */
@Injectable()
class RunnerOff implements OnModuleInit {
  constructor(private readonly moduleRef: ModuleRef) {}

  onModuleInit(): void {
    // JobsModule does not export its options, and an app may hold more than one JobsModule.
    let all: ResolvedJobsOptions[] = [];
    try {
      all = this.moduleRef.get<ResolvedJobsOptions>(JOBS_RESOLVED_OPTIONS, {
        strict: false,
        each: true,
      });
    } catch {
      return; // no JobsModule in the app: the command says so when it looks for JobsService
    }
    for (const options of all) options.runner = false;
  }
}

/** Writes every Nest log line to stderr (stdout is for the command's output), errors always, the rest with --verbose. */
export function stderrLogger(verbose: boolean, io: Pick<CliIo, 'stderr'>): LoggerService {
  const write =
    (level: string) =>
    (message: unknown, ...rest: unknown[]) => {
      const context = typeof rest.at(-1) === 'string' ? `[${String(rest.at(-1))}] ` : '';
      io.stderr(
        `${level} ${context}${message instanceof Error ? message.stack : String(message)}\n`,
      );
    };
  const quiet = () => undefined;
  return {
    error: write('ERROR'),
    fatal: write('FATAL'),
    warn: verbose ? write('WARN') : quiet,
    log: verbose ? write('LOG') : quiet,
    debug: verbose ? write('DEBUG') : quiet,
    verbose: verbose ? write('VERBOSE') : quiet,
  };
}

/** The user's application as a Nest application context (no HTTP server), with the jobs runner off. */
export async function bootApp(
  appModule: NestModule,
  verbose: boolean,
  io: Pick<CliIo, 'stderr'>,
): Promise<INestApplicationContext> {
  @Module({ imports: [appModule], providers: [RunnerOff] })
  class JobsCliModule {}
  const app = await NestFactory.createApplicationContext(JobsCliModule, {
    logger: stderrLogger(verbose, io),
    abortOnError: false,
  });
  return app;
}
