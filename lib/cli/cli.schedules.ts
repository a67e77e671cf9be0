import type { JobSchedule } from '../interfaces/schedule-options.interface.js';
import { noMorePositionals, requirePositional } from './cli.args.js';
import type { Command, CommandHelpers } from './cli.commands.js';
import { EXIT_OK } from './cli.errors.js';

/** Schedules read per page while listing them all. */
const PAGE = 500;

/** `digest  cron 0 8 * * * Europe/Paris  next 2026-12-03T07:00:00.000Z  last … succeeded` */
function line(schedule: JobSchedule): string {
  const spec =
    schedule.every !== null
      ? `every ${schedule.every} ms`
      : `cron ${schedule.cron}${schedule.timezone ? ` ${schedule.timezone}` : ''}`;
  const next = schedule.paused ? 'PAUSED' : `next ${schedule.nextRunAt?.toISOString() ?? '-'}`;
  const last = schedule.lastRunAt
    ? `last ${schedule.lastRunAt.toISOString()} ${schedule.lastOutcome}`
    : 'never run';
  const origin = schedule.declared ? 'declared' : `runtime, kind ${schedule.kind}`;
  return `${schedule.key} (${origin}): ${spec}; ${next}; ${last}`;
}

function list({ jobsService, asUsage }: CommandHelpers): Command {
  return {
    name: 'schedules',
    summary: 'list the schedules: declared on @JobKind and made at runtime, paused ones included',
    usage: 'schedules [--kind <kind>]',
    help: [
      'Lists every schedule (of --kind, if given): its key (the kind for a declared schedule), its',
      'cron or interval, its next run (or PAUSED) and how its last run ended.',
    ].join('\n'),
    options: { kind: { type: 'string' } },
    async prepare(positionals, options) {
      noMorePositionals(positionals, 0);
      const kind = options.kind as string | undefined;
      return async (app) => {
        const jobs = jobsService(app);
        const all: JobSchedule[] = [];
        for (let after: number | undefined; ;) {
          const page = await asUsage(() => jobs.schedules({ kind, after, limit: PAGE }));
          all.push(...page);
          if (page.length < PAGE) break;
          after = page[page.length - 1].id;
        }
        return {
          exitCode: EXIT_OK,
          json: all,
          text: all.length ? all.map(line).join('\n') : 'no schedules',
        };
      };
    },
  };
}

function toggle({ jobsService, asUsage }: CommandHelpers, name: string, pause: boolean): Command {
  const verb = pause ? 'pause' : 'resume';
  return {
    name,
    summary: pause
      ? 'pause a schedule on every instance, until resumed'
      : 'resume a paused schedule from its next occurrence',
    usage: `${name} <kind-or-key>`,
    help: [
      pause
        ? 'Pauses the schedule a kind declares (name the kind) or a runtime schedule (name its key), in the'
        : 'Resumes a paused schedule (the kind for a declared one, the key for a runtime one) at its next',
      pause
        ? 'database: every instance skips it, and restarts keep it paused, until resume-schedule.'
        : 'occurrence from now; occurrences that passed while it was paused are skipped.',
      'Exit code 2 when there is no such schedule.',
    ].join('\n'),
    options: {},
    async prepare(positionals) {
      const target = requirePositional(positionals, 0, 'kind-or-key');
      noMorePositionals(positionals, 1);
      return async (app) => {
        const jobs = jobsService(app);
        const changed = await asUsage(() =>
          pause ? jobs.pauseSchedule(target) : jobs.resumeSchedule(target),
        );
        return {
          exitCode: EXIT_OK,
          json: { schedule: target, [pause ? 'paused' : 'resumed']: changed },
          text: changed
            ? `${verb}d schedule ${target}`
            : `schedule ${target} was ${pause ? 'paused' : 'not paused'} already`,
        };
      };
    },
  };
}

/** The schedule commands; the helpers come from cli.commands.ts, which lists every command. */
export function scheduleCommands(helpers: CommandHelpers): Command[] {
  return [
    list(helpers),
    toggle(helpers, 'pause-schedule', true),
    toggle(helpers, 'resume-schedule', false),
  ];
}
