import type { INestApplicationContext } from '@nestjs/common';
import { JobsError, JobNotFoundError, JobNotRetryableError } from '../errors/jobs.errors.js';
import { JOB_STATUSES, type JobStatus } from '../interfaces/job-context.interface.js';
import { JobsService } from '../jobs.service.js';
import {
  noMorePositionals,
  parseCommand,
  parseDuration,
  parseInteger,
  parseJobId,
  requirePositional,
  type GlobalOptions,
} from './cli.args.js';
import { CliUsageError, EXIT_JOB_FAILURE, EXIT_OK } from './cli.errors.js';
import type { CliIo } from './cli.io.js';
import { enqueueCommand } from './cli.enqueue.js';
import { queueCommands } from './cli.queues.js';
import { scheduleCommands } from './cli.schedules.js';

/** What a command prints (text, or the object with --json) and its exit code. */
export interface CommandResult {
  exitCode: number;
  json: unknown;
  text: string;
}

/** A command: its options, its help, and what it does once the app context is up. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  help: string;
  options: Parameters<typeof parseCommand>[1];
  /** Checks the arguments before the app boots (usage errors cost no database connection). */
  prepare(
    positionals: string[],
    options: Record<string, unknown>,
    io: Pick<CliIo, 'stdin'>,
  ): Promise<Prepared>;
}

type Prepared = (app: INestApplicationContext) => Promise<CommandResult>;

/** What commands defined in other files use (passed in: those files import only types from here). */
export interface CommandHelpers {
  jobsService: typeof jobsService;
  asUsage: typeof asUsage;
}

const FINISHED: JobStatus[] = ['succeeded', 'failed', 'cancelled'];

function jobsService(app: INestApplicationContext): JobsService {
  try {
    return app.get(JobsService, { strict: false });
  } catch {
    throw new CliUsageError(
      'the app module has no JobsModule',
      'point --module at the module that imports JobsModule.forRoot(...)',
    );
  }
}

/** Known failures of JobsService (unknown kind, bad payload, bad option, unknown id) are usage errors. */
async function asUsage<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof JobsError && !(error instanceof JobNotRetryableError))
      throw new CliUsageError(error.message);
    throw error;
  }
}

const run: Command = {
  name: 'run',
  summary: 'run every job due now, once, in this process',
  usage: 'run',
  help: [
    'Claims and runs every job that is due now (on every queue this app has handlers for, but paused',
    'queues), writes their outcomes, and exits. For cron, instead of (or beside) the background runner.',
    'Exit code 1 when any run threw (including runs that will be retried).',
  ].join('\n'),
  options: {},
  async prepare(positionals) {
    noMorePositionals(positionals, 0);
    return async (app) => {
      const summary = await jobsService(app).runPending();
      return {
        exitCode: summary.failed > 0 ? EXIT_JOB_FAILURE : EXIT_OK,
        json: summary,
        text: `ran ${summary.ran}: ${summary.succeeded} succeeded, ${summary.failed} failed, ${summary.snoozed} snoozed`,
      };
    };
  },
};

const stats: Command = {
  name: 'stats',
  summary: 'count jobs per status and per kind',
  usage: 'stats',
  help: 'Counts the jobs per status, and per kind and status, in one query.',
  options: {},
  async prepare(positionals) {
    noMorePositionals(positionals, 0);
    return async (app) => {
      const rows = await jobsService(app).counts();
      const byStatus = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<
        JobStatus,
        number
      >;
      const byKind: Record<string, Partial<Record<JobStatus, number>>> = {};
      for (const row of rows) {
        const count = Number(row.count);
        byStatus[row.status] = (byStatus[row.status] ?? 0) + count;
        (byKind[row.kind] ??= {})[row.status] = count;
      }
      const total = Object.values(byStatus).reduce((sum, n) => sum + n, 0);
      const lines = [
        `total ${total}: ${JOB_STATUSES.map((status) => `${status} ${byStatus[status]}`).join(', ')}`,
        ...Object.entries(byKind).map(
          ([kind, counts]) =>
            `  ${kind}: ${Object.entries(counts)
              .map(([status, n]) => `${status} ${n}`)
              .join(', ')}`,
        ),
      ];
      return { exitCode: EXIT_OK, json: { total, byStatus, byKind }, text: lines.join('\n') };
    };
  },
};

const retryFailed: Command = {
  name: 'retry-failed',
  summary: 'make failed jobs pending again (all, or of one kind)',
  usage: 'retry-failed [--kind <kind>]',
  help: 'Makes every failed job (of --kind, if given) pending and due now, with its attempts reset.',
  options: { kind: { type: 'string' } },
  async prepare(positionals, options) {
    noMorePositionals(positionals, 0);
    const kind = options.kind as string | undefined;
    return async (app) => {
      const jobs = jobsService(app);
      const retried: number[] = [];
      let after: number | undefined;
      for (;;) {
        const page = await jobs.list({
          status: 'failed',
          kind,
          order: 'oldest',
          after,
          limit: 500,
        });
        if (page.length === 0) break;
        for (const job of page) {
          try {
            await jobs.retry(job.id);
            retried.push(job.id);
          } catch (error) {
            // Retried, cancelled or deleted by someone else meanwhile: nothing left to do for it.
            if (!(error instanceof JobNotRetryableError || error instanceof JobNotFoundError))
              throw error;
          }
        }
        after = page[page.length - 1].id;
      }
      return {
        exitCode: EXIT_OK,
        json: { retried: retried.length, ids: retried },
        text: `retried ${retried.length} failed job${retried.length === 1 ? '' : 's'}${kind ? ` of ${kind}` : ''}`,
      };
    };
  },
};

const cancel: Command = {
  name: 'cancel',
  summary: 'cancel a pending or running job',
  usage: 'cancel <id>',
  help: [
    "Cancels the job: a pending one never runs; a running one is asked to stop (its handler's signal aborts, on whichever instance runs it) and its outcome is dropped.",
    'Exit code 1 when the job had already finished, 2 when there is no such job. A schedule is',
    'not cancelled (it would come back): pause-schedule pauses it.',
  ].join('\n'),
  options: {},
  async prepare(positionals) {
    const id = parseJobId(requirePositional(positionals, 0, 'id'));
    noMorePositionals(positionals, 1);
    return async (app) => {
      const jobs = jobsService(app);
      const cancelled = await asUsage(() => jobs.cancel(id));
      const status = cancelled ? 'cancelled' : (await jobs.get(id))?.status;
      return {
        exitCode: cancelled ? EXIT_OK : EXIT_JOB_FAILURE,
        json: { id, cancelled, status },
        text: cancelled ? `cancelled job ${id}` : `job ${id} is ${status}: nothing to cancel`,
      };
    };
  },
};

const prune: Command = {
  name: 'prune',
  summary: 'delete finished jobs older than a duration, in small batches',
  usage: 'prune --older-than <7d> [--status succeeded|failed|cancelled] [--batch-size 500]',
  help: [
    'Deletes jobs that finished (succeeded, failed or cancelled) more than --older-than ago,',
    'a batch at a time so that no statement holds locks for long. Pending and running jobs are never',
    'touched. --status (repeatable) narrows it to those statuses.',
  ].join('\n'),
  options: {
    'older-than': { type: 'string' },
    status: { type: 'string', multiple: true },
    'batch-size': { type: 'string' },
  },
  async prepare(positionals, options) {
    noMorePositionals(positionals, 0);
    if (options['older-than'] === undefined)
      throw new CliUsageError('missing --older-than, e.g. --older-than 7d');
    const age = parseDuration('--older-than', String(options['older-than']));
    const statuses = (options.status as string[] | undefined) ?? FINISHED;
    for (const status of statuses) {
      if (!FINISHED.includes(status as JobStatus)) {
        throw new CliUsageError(`--status must be one of ${FINISHED.join(', ')}, got "${status}"`);
      }
    }
    const batchSize = parseInteger(
      '--batch-size',
      options['batch-size'] as string | undefined,
      500,
      1,
    )!;
    return async (app) => {
      const cutoff = Date.now() - age;
      const deleted = await jobsService(app).prune(statuses as JobStatus[], cutoff, batchSize);
      return {
        exitCode: EXIT_OK,
        json: { deleted, olderThan: new Date(cutoff), statuses },
        text: `deleted ${deleted} ${statuses.join('/')} job${deleted === 1 ? '' : 's'} finished before ${new Date(cutoff).toISOString()}`,
      };
    };
  },
};

export const COMMANDS: Command[] = [
  run,
  enqueueCommand({ jobsService, asUsage }),
  stats,
  retryFailed,
  cancel,
  prune,
  ...scheduleCommands({ jobsService, asUsage }),
  ...queueCommands({ jobsService, asUsage }),
];

export type { GlobalOptions };
