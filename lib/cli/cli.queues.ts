import { JOB_STATUSES } from '../interfaces/job-context.interface.js';
import type { JobQueueInfo } from '../interfaces/jobs-service.interface.js';
import { queueName } from '../options/index.js';
import { checkBeforeBoot, noMorePositionals, requirePositional } from './cli.args.js';
import type { Command, CommandHelpers } from './cli.commands.js';
import { EXIT_OK } from './cli.errors.js';

/**
 * A queue name as a terminal may show it: names are any text, so control characters (a newline
 * that would break the table, an escape sequence) are written as JSON escapes.
 */
function printable(name: string): string {
  return name.replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => JSON.stringify(char).slice(1, -1));
}

/** One column of the `queues` table: a new field of JobQueueInfo (limits, say) is one more entry. */
interface Column {
  heading: string;
  cell(queue: JobQueueInfo): string;
  numeric?: boolean;
}

const COLUMNS: Column[] = [
  { heading: 'queue', cell: (queue) => printable(queue.name) },
  { heading: 'state', cell: (queue) => (queue.paused ? 'PAUSED' : 'active') },
  ...JOB_STATUSES.map((status): Column => ({
    heading: status,
    cell: (queue) => String(queue.counts[status]),
    numeric: true,
  })),
];

/** The queues as an aligned table, numbers to the right. */
function table(queues: JobQueueInfo[]): string {
  const rows = [
    COLUMNS.map((column) => column.heading),
    ...queues.map((q) => COLUMNS.map((column) => column.cell(q))),
  ];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (COLUMNS[i].numeric ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function list({ jobsService }: CommandHelpers): Command {
  return {
    name: 'queues',
    summary: 'list the queues: paused or not, and their jobs per status',
    usage: 'queues',
    help: [
      'Lists every queue that holds jobs or was ever paused: whether it is PAUSED (no instance starts',
      'its jobs) and its jobs per status. --json gives the objects of JobsService.queues().',
    ].join('\n'),
    options: {},
    async prepare(positionals) {
      noMorePositionals(positionals, 0);
      return async (app) => {
        const queues = await jobsService(app).queues();
        return {
          exitCode: EXIT_OK,
          json: queues,
          text: queues.length ? table(queues) : 'no queues',
        };
      };
    },
  };
}

function toggle({ jobsService, asUsage }: CommandHelpers, pause: boolean): Command {
  const name = pause ? 'pause' : 'resume';
  return {
    name,
    summary: pause
      ? 'pause a queue on every instance: none starts its jobs until resumed'
      : 'resume a paused queue: its pending jobs run again',
    usage: `${name} <queue>`,
    help: [
      pause
        ? 'Pauses the queue in the database: from its next claim, no instance (nor `run`) starts a job of'
        : 'Resumes a paused queue on every instance: their next claims take its pending jobs again.',
      pause
        ? 'it; running jobs finish, enqueueing still works, and restarts keep it paused until resume.'
        : 'Jobs that came due while it was paused run first, in their usual order.',
      `Exit code 0 also when the queue was ${pause ? 'paused' : 'not paused'} already (it says so);`,
      '2 for a name that is not a queue name (1 to 100 characters).',
    ].join('\n'),
    options: {},
    async prepare(positionals) {
      const queue = checkBeforeBoot(() =>
        queueName('<queue>', requirePositional(positionals, 0, 'queue')),
      );
      noMorePositionals(positionals, 1);
      return async (app) => {
        const jobs = jobsService(app);
        const changed = await asUsage(() =>
          pause ? jobs.pauseQueue(queue) : jobs.resumeQueue(queue),
        );
        const shown = printable(queue);
        return {
          exitCode: EXIT_OK,
          json: { queue, [pause ? 'paused' : 'resumed']: changed },
          text: changed
            ? `${name}d queue ${shown}${pause ? ' on every instance (running jobs finish)' : ''}`
            : `queue ${shown} ${pause ? 'was paused already' : 'was not paused'}`,
        };
      };
    },
  };
}

/** The queue commands; the helpers come from cli.commands.ts, which lists every command. */
export function queueCommands(helpers: CommandHelpers): Command[] {
  return [list(helpers), toggle(helpers, true), toggle(helpers, false)];
}
