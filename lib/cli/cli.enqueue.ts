import type { EnqueueOptions } from '../interfaces/enqueue-options.interface.js';
import { serializePayload } from '../jobs.payload.js';
import { dueAt, INT32_MIN, queueName } from '../options/index.js';
import {
  checkBeforeBoot,
  noMorePositionals,
  parseDuration,
  parseInteger,
  requirePositional,
} from './cli.args.js';
import type { Command, CommandHelpers } from './cli.commands.js';
import { CliUsageError, EXIT_OK } from './cli.errors.js';

function parseJson(source: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliUsageError(
      `the payload ${source} is not valid JSON: ${(error as Error).message}`,
      'use --text to enqueue it as a string',
    );
  }
}

/** `enqueue <kind> [json | -]`: everything checked before the app boots, so a refused job writes nothing. */
export function enqueueCommand({ jobsService, asUsage }: CommandHelpers): Command {
  return {
    name: 'enqueue',
    summary: 'add a job, with a JSON payload from the argument or stdin',
    usage:
      'enqueue <kind> [json | -] [--text] [--delay 10m] [--priority n] [--queue q] [--max-attempts n] [--unique [key]]',
    help: [
      'Adds one job of <kind>. The payload is the JSON argument, or stdin when it is "-" (the mail-pipe:',
      '`... | nestjs-typeorm-jobs enqueue mail.incoming - --text`); none means no payload.',
      '  --text             the payload is the text itself (a JSON string), not JSON',
      '  --delay <d>        run no earlier than this from now: 30s, 15m, 1h30m, 7d, 2w',
      '  --priority <n>     lower runs first; negative is more urgent (--priority -5)',
      "  --queue <name>     queue (default: the kind's)",
      '  --max-attempts <n> attempts before the job stays failed',
      '  --unique <key>     return the active job with this key instead of adding one ("true": key from the data)',
      'Prints the job (its id). Exit code 2, with nothing written, for an unknown kind, a value out of',
      'range, or a payload that is not JSON or that a database would refuse (docs/api.md, "Bounds").',
    ].join('\n'),
    options: {
      text: { type: 'boolean' },
      delay: { type: 'string' },
      priority: { type: 'string' },
      queue: { type: 'string' },
      'max-attempts': { type: 'string' },
      unique: { type: 'string' },
    },
    async prepare(positionals, options, io) {
      const kind = requirePositional(positionals, 0, 'kind');
      noMorePositionals(positionals, 2);
      const source = positionals[1];
      const raw = source === '-' ? await io.stdin() : source;
      const data =
        raw === undefined
          ? undefined
          : options.text
            ? raw
            : parseJson(source === '-' ? 'on stdin' : 'argument', raw);
      const enqueueOptions: EnqueueOptions = {};
      if (options.delay !== undefined)
        enqueueOptions.delay = parseDuration('--delay', String(options.delay));
      const priority = parseInteger(
        '--priority',
        options.priority as string | undefined,
        undefined,
        INT32_MIN,
      );
      if (priority !== undefined) enqueueOptions.priority = priority;
      if (options.queue !== undefined) enqueueOptions.queue = String(options.queue);
      const maxAttempts = parseInteger(
        '--max-attempts',
        options['max-attempts'] as string | undefined,
        undefined,
        1,
      );
      if (maxAttempts !== undefined) enqueueOptions.maxAttempts = maxAttempts;
      if (options.unique !== undefined)
        enqueueOptions.unique = options.unique === 'true' ? true : String(options.unique);
      // Everything the service would refuse is refused here too, before the app boots: a command
      // that fails after its write would be retried by cron or by hand, and duplicate the job.
      checkBeforeBoot(() => {
        dueAt(undefined, enqueueOptions.delay, Date.now());
        queueName('--queue', enqueueOptions.queue);
        serializePayload(kind, data, Number.MAX_SAFE_INTEGER);
      });
      return async (app) => {
        const job = await asUsage(() => jobsService(app).enqueue(kind, data, enqueueOptions));
        return {
          exitCode: EXIT_OK,
          json: {
            id: job.id,
            kind: job.kind,
            queue: job.queue,
            status: job.status,
            runAt: job.runAt,
          },
          text: `enqueued job ${job.id} (${job.kind}, ${job.status}, due ${job.runAt.toISOString()})`,
        };
      };
    },
  };
}
