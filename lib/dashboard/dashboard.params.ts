import { BadRequestException, NotFoundException } from '@nestjs/common';
import { INT32_MAX, isJobId, storableText } from '../options/index.js';
import { JOB_STATUSES, type JobStatus } from '../interfaces/job-context.interface.js';
import { MAX_ACTION_IDS } from './dashboard.constants.js';
import { DASHBOARD_ACTIONS, type DashboardAction, type JobsQuery } from './dashboard.types.js';

type Params = Record<string, unknown>;

/** Jobs per page at most. */
const MAX_PAGE = 500;

function text(params: Params, name: string, max = 200): string | undefined {
  const value = params[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || value.length > max || !storableText(value)) {
    throw new BadRequestException(
      `"${name}" must be a string of at most ${max} characters, without NUL.`,
    );
  }
  return value;
}

function id(value: unknown, name: string, what = 'a job id'): number {
  const number =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d{1,10}$/.test(value)
        ? Number(value)
        : NaN;
  if (!isJobId(number)) {
    throw new BadRequestException(`"${name}" must be ${what} (an integer from 1 to ${INT32_MAX}).`);
  }
  return number;
}

function optionalId(params: Params, name: string, what?: string): number | undefined {
  return params[name] === undefined || params[name] === ''
    ? undefined
    : id(params[name], name, what);
}

/** The list's query string; anything malformed is a 400 that says which parameter. */
export function parseJobsQuery(params: Params, pageSize: number): JobsQuery {
  const status = text(params, 'status');
  if (status !== undefined && !JOB_STATUSES.includes(status as JobStatus)) {
    throw new BadRequestException(`"status" must be one of ${JOB_STATUSES.join(', ')}.`);
  }
  const periodic = text(params, 'periodic');
  if (periodic !== undefined && periodic !== 'true' && periodic !== 'false') {
    throw new BadRequestException('"periodic" must be true or false.');
  }
  const order = text(params, 'order') ?? 'newest';
  if (order !== 'newest' && order !== 'oldest')
    throw new BadRequestException('"order" must be newest or oldest.');
  const limit = pageLimit(params.limit, pageSize);
  const query: JobsQuery = {
    id: optionalId(params, 'id'),
    text: text(params, 'q'),
    createdFrom: instant(params, 'createdFrom'),
    createdTo: instant(params, 'createdTo'),
    finishedFrom: instant(params, 'finishedFrom'),
    finishedTo: instant(params, 'finishedTo'),
    status: status as JobStatus | undefined,
    kind: text(params, 'kind'),
    queue: text(params, 'queue', 100),
    periodic: periodic === undefined ? undefined : periodic === 'true',
    batch: optionalId(params, 'batch', 'a batch id'),
    order,
    after: optionalId(params, 'after'),
    before: optionalId(params, 'before'),
    limit,
  };
  if (query.after !== undefined && query.before !== undefined) {
    throw new BadRequestException('Give "after" or "before", not both.');
  }
  return query;
}

/** `2026-11-24T10:24`, with seconds, milliseconds and a `Z` or not: always UTC, as the pages show times. */
const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?)?Z?$/;

/** A time of the search (`createdFrom`, ...) as epoch ms; a date alone is its midnight, UTC. */
function instant(params: Params, name: string): number | undefined {
  const value = text(params, name, 30);
  if (value === undefined) return undefined;
  const time = INSTANT.test(value)
    ? Date.parse(
        value.endsWith('Z') ? value : value.length === 10 ? `${value}T00:00Z` : `${value}Z`,
      )
    : NaN;
  if (!Number.isFinite(time)) {
    throw new BadRequestException(
      `"${name}" must be a UTC time such as 2026-11-24T10:24 or 2026-11-24T10:24:09Z.`,
    );
  }
  return time;
}

/** How the list's URLs and the search form write a time of the search: `2026-11-24T10:24:09`. */
export function instantText(time: number): string {
  return new Date(time).toISOString().slice(0, 19);
}

/** A job's id in a path: not a number is a 400; a number no job can have (past 2^31 - 1) is a 404. */
export function parseJobId(value: unknown): number {
  if (typeof value === 'string' && /^\d+$/.test(value) && !isJobId(Number(value))) {
    throw new NotFoundException(`There is no job #${value}.`);
  }
  return id(value, 'id');
}

/** A batch's id in a path, as parseJobId judges a job's: not a number is a 400, past 2^31 - 1 a 404. */
export function parseBatchId(value: unknown): number {
  if (typeof value === 'string' && /^\d+$/.test(value) && !isJobId(Number(value))) {
    throw new NotFoundException(`There is no batch #${value}.`);
  }
  return id(value, 'id', 'a batch id');
}

function pageLimit(value: unknown, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const number = typeof value === 'string' && /^\d{1,3}$/.test(value) ? Number(value) : NaN;
  if (!(number >= 1 && number <= MAX_PAGE))
    throw new BadRequestException(`"limit" must be an integer from 1 to ${MAX_PAGE}.`);
  return number;
}

/** `{ action, ids }` from a form (ids repeated or one) or a JSON body. */
export function parseAction(body: unknown): { action: DashboardAction; ids: number[] } {
  const params = (body ?? {}) as Params;
  const action = params.action;
  if (typeof action !== 'string' || !DASHBOARD_ACTIONS.includes(action as DashboardAction)) {
    throw new BadRequestException(`"action" must be one of ${DASHBOARD_ACTIONS.join(', ')}.`);
  }
  const raw = params.ids === undefined ? [] : [params.ids].flat();
  if (raw.length === 0) throw new BadRequestException('Select at least one job.');
  if (raw.length > MAX_ACTION_IDS)
    throw new BadRequestException(`At most ${MAX_ACTION_IDS} jobs per action.`);
  return {
    action: action as DashboardAction,
    ids: [...new Set(raw.map((value) => id(value, 'ids')))],
  };
}

/** `ids=4,7,9` (or `ids` repeated) of the live refresh: at most a page of jobs. */
export function parseIdList(value: unknown): number[] {
  const raw = [value ?? []]
    .flat()
    .flatMap((part) => (typeof part === 'string' ? part.split(',') : [part]))
    .filter((part) => part !== '');
  if (raw.length === 0) throw new BadRequestException('Give "ids": job ids separated by commas.');
  if (raw.length > MAX_PAGE) throw new BadRequestException(`At most ${MAX_PAGE} "ids".`);
  return [...new Set(raw.map((part) => id(part, 'ids')))];
}

const TIMES = new Set<string>(['createdFrom', 'createdTo', 'finishedFrom', 'finishedTo']);

/** The query string of a list URL, keeping only the filters that are set. */
export function listQueryString(
  query: Partial<JobsQuery>,
  change: Partial<JobsQuery> = {},
): string {
  const merged: Partial<JobsQuery> = { ...query, after: undefined, before: undefined, ...change };
  const params = new URLSearchParams();
  const keys = [
    'status',
    'kind',
    'queue',
    'periodic',
    'batch',
    'id',
    'text',
    'createdFrom',
    'createdTo',
    'finishedFrom',
    'finishedTo',
    'order',
    'after',
    'before',
  ] as const;
  for (const key of keys) {
    const value = merged[key];
    if (value === undefined || (key === 'order' && value === 'newest')) continue;
    const name = key === 'text' ? 'q' : key;
    params.set(name, TIMES.has(key) ? instantText(Number(value)) : String(value));
  }
  const string = params.toString();
  return string ? `?${string}` : '';
}
