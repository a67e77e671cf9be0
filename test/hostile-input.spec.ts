/**
 * Hostile input: every value a user (or an attacker reaching an endpoint that enqueues) can pass
 * that a database would refuse, or that JSON would silently change, is refused with a typed error
 * that names the path or the option, before any statement; the jobs table is unchanged afterwards.
 * To add a case, add a row to a table below: what it does, the error class, what the message names.
 */
import { Injectable } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { TestingModule } from '@nestjs/testing';
import type { DataSource } from 'typeorm';
import {
  InvalidJobPayloadError,
  InvalidJobsOptionError,
  JobEntity,
  JobKind,
  JobNotFoundError,
  JobsService,
  UnknownJobsOptionError,
  type JobContext,
  type JobKindOptions,
} from 'nestjs-typeorm-jobs';
import { serializePayload } from '../lib/jobs.payload.js';
import { describeBackends } from './support/backends.js';
import {
  closeCleaners,
  freshDatabase,
  startApp,
  waitForStatus,
  withApp,
} from './support/fixtures.js';

@Injectable()
class Echo {
  @JobKind('echo')
  echo(job: JobContext) {
    return job.data;
  }
}

/** `[[...[1]...]]`, `depth` arrays deep, built without recursion. */
function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

const MAX_PAYLOAD = 64 * 1024;
const DAY = 86_400_000;
const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays

type ErrorClass = new (...args: never[]) => Error;
interface Case {
  what: string;
  act: (jobs: JobsService) => Promise<unknown>;
  error: ErrorClass;
  /** What the message must name: the JSON path, or the option. */
  names: RegExp;
}

const payload = (what: string, data: unknown, names: RegExp): Case[] => [
  {
    what: `enqueue: ${what}`,
    act: (jobs) => jobs.enqueue('echo', data),
    error: InvalidJobPayloadError,
    names,
  },
  {
    what: `enqueueMany: ${what}`,
    act: (jobs) =>
      jobs.enqueueMany([
        { kind: 'echo', data: { fine: true } },
        { kind: 'echo', data },
      ]),
    error: InvalidJobPayloadError,
    names,
  },
];

const option = (what: string, options: object, error: ErrorClass, names: RegExp): Case[] => [
  {
    what: `enqueue: ${what}`,
    act: (jobs) => jobs.enqueue('echo', {}, options as never),
    error,
    names,
  },
  {
    what: `enqueueMany: ${what}`,
    act: (jobs) => jobs.enqueueMany([{ kind: 'echo' }, { kind: 'echo', ...options }]),
    error,
    names,
  },
];

const CASES: Case[] = [
  // MariaDB refuses 32 levels; the rule is the same everywhere.
  ...payload('nesting of 32 levels', { a: nested(31) }, /\$\.a(\[0\]){30} is nested 32 levels/),
  // Near 5,000 levels a recursive walk (or JSON.stringify) overflows the stack.
  ...payload('nesting of 5,000 levels', nested(5_000), /\$(\[0\]){31} is nested 32 levels/),
  ...payload('a lone surrogate in a string', { s: 'ok \ud800' }, /\$\.s holds .*lone/),
  ...payload('a lone surrogate in a key', { ['\udc00k']: 1 }, /\$\["\\udc00k"\] has a key with/),
  ...payload('a NUL character in a string', { s: 'a\u0000b' }, /\$\.s holds a NUL/),
  ...payload('a NUL character in a key', [{ 'a\u0000': 1 }], /\$\[0\]\["a\\u0000"\]/),
  ...payload('an invalid Date', { when: new Date(Number.NaN) }, /\$\.when is an invalid Date/),
  ...payload('a symbol key', { [Symbol('secret')]: 1, ok: 1 }, /\$ has the symbol key/),
  ...payload('an empty array slot', { list: sparse }, /\$\.list\[1\] is an empty slot/),
  ...payload('a string over maxPayloadSize', { blob: 'x'.repeat(MAX_PAYLOAD + 1) }, /\$\.blob/),
  ...payload(
    'many small strings over maxPayloadSize',
    Array.from({ length: 100 }, () => 'y'.repeat(1_000)),
    /\$ is \d+ bytes of JSON, over the 65536-byte limit/,
  ),
  ...option(
    'delay: Number.MAX_SAFE_INTEGER',
    { delay: Number.MAX_SAFE_INTEGER },
    InvalidJobsOptionError,
    /"delay"/,
  ),
  ...option("delay: '100000000d'", { delay: '100000000d' }, InvalidJobsOptionError, /"delay"/),
  ...option(
    'runAt after the year 9999',
    { runAt: new Date(Date.UTC(10_000, 0, 1)) },
    InvalidJobsOptionError,
    /"runAt"/,
  ),
  ...option(
    'runAt an invalid Date',
    { runAt: new Date(Number.NaN) },
    InvalidJobsOptionError,
    /"runAt"/,
  ),
  ...option('priority over 2^31 - 1', { priority: 2 ** 31 }, InvalidJobsOptionError, /"priority"/),
  ...option(
    'priority under -2^31',
    { priority: -(2 ** 31) - 1 },
    InvalidJobsOptionError,
    /"priority"/,
  ),
  ...option(
    'maxAttempts over 2^31 - 1',
    { maxAttempts: 2 ** 31 },
    InvalidJobsOptionError,
    /"maxAttempts"/,
  ),
  ...option('a queue name with NUL', { queue: 'mail\u0000' }, InvalidJobsOptionError, /"queue"/),
  ...option(
    'a queue name with a lone surrogate',
    { queue: '\udfff' },
    InvalidJobsOptionError,
    /"queue"/,
  ),
  ...option(
    'an interval over 100 years',
    { periodic: true, interval: 101 * 365 * DAY },
    InvalidJobsOptionError,
    /"interval"/,
  ),
  ...option(
    'periodic that is not a boolean',
    { periodic: 'yes' },
    InvalidJobsOptionError,
    /"periodic"/,
  ),
  ...option('a misspelt option', { dealy: 1_000 }, UnknownJobsOptionError, /"dealy".*delay, runAt/),
  {
    what: 'enqueueMany: a manager inside a spec (it goes in the second argument)',
    act: (jobs) => jobs.enqueueMany([{ kind: 'echo', manager: {} } as never]),
    error: UnknownJobsOptionError,
    names: /spec \[0\] option "manager"/,
  },
  {
    what: 'enqueueMany: specs that are not an array',
    act: (jobs) => jobs.enqueueMany({ kind: 'echo' } as never),
    error: InvalidJobsOptionError,
    names: /"specs of enqueueMany\(\)"/,
  },
  {
    what: 'enqueueMany: a spec that is null',
    act: (jobs) => jobs.enqueueMany([{ kind: 'echo' }, null as never]),
    error: InvalidJobsOptionError,
    names: /"enqueueMany\(\) spec \[1\]"/,
  },
  {
    what: 'enqueue: a kind name with NUL',
    act: (jobs) => jobs.enqueue('echo\u0000', {}),
    error: InvalidJobsOptionError,
    names: /"kind"/,
  },
  {
    what: 'enqueueMany: a kind name with a lone surrogate',
    act: (jobs) => jobs.enqueueMany([{ kind: 'echo\ud800' }]),
    error: InvalidJobsOptionError,
    names: /"kind"/,
  },
  {
    what: 'cancel: an id beyond the 32-bit column',
    act: (jobs) => jobs.cancel(9_999_999_999),
    error: JobNotFoundError,
    names: /Job 9999999999 does not exist/,
  },
  {
    what: 'retry: an id beyond the 32-bit column',
    act: (jobs) => jobs.retry(2 ** 31),
    error: JobNotFoundError,
    names: /Job 2147483648 does not exist/,
  },
  {
    what: 'get: an id that is not an integer',
    act: (jobs) => jobs.get(1.5),
    error: InvalidJobsOptionError,
    names: /"id"/,
  },
  {
    what: 'list: a queue filter with NUL',
    act: (jobs) => jobs.list({ queue: 'q\u0000' }),
    error: InvalidJobsOptionError,
    names: /"queue"/,
  },
  {
    what: 'list: a misspelt filter',
    act: (jobs) => jobs.list({ staus: 'failed' } as never),
    error: UnknownJobsOptionError,
    names: /"staus".*status/,
  },
  {
    what: 'list: a cursor beyond the 32-bit column',
    act: (jobs) => jobs.list({ after: 9_999_999_999 }),
    error: InvalidJobsOptionError,
    names: /"after"/,
  },
];

afterAll(closeCleaners);

describeBackends('hostile input', (backend) => {
  let app: TestingModule;
  let jobs: JobsService;
  const snapshot = async () =>
    (
      await app
        .get<DataSource>(getDataSourceToken())
        .getRepository(JobEntity)
        .find({ select: { id: true, status: true, runAt: true }, order: { id: 'ASC' } })
    ).map((job) => `${job.id}:${job.status}:${job.runAt.getTime()}`);

  beforeAll(async () => {
    app = await startApp({
      database: await freshDatabase(backend),
      providers: [Echo],
      jobs: { runner: false, maxPayloadSize: MAX_PAYLOAD },
    });
    jobs = app.get(JobsService);
    await jobs.enqueue('echo', { seed: true }); // "unchanged" then means more than "still empty"
  });
  afterAll(() => app?.close());

  it.each(CASES.map((c) => [c.what, c] as const))(
    'refuses %s, naming it, and writes nothing',
    async (_what, { act, error, names }) => {
      const before = await snapshot();
      const outcome = act(jobs);
      await expect(outcome).rejects.toThrow(error);
      await expect(outcome).rejects.toThrow(names);
      expect(await snapshot()).toEqual(before);
    },
  );

  it('looks up an id beyond the 32-bit column as a job that does not exist', async () => {
    expect(await jobs.get(9_999_999_999)).toBeNull();
    expect(await jobs.runNow([9_999_999_999, 2 ** 31])).toBe(0);
    await expect(jobs.runNow([1.5])).rejects.toThrow(InvalidJobsOptionError);
  });

  it('takes the edges of every range', async () => {
    const edge = await jobs.enqueue('echo', nested(31), {
      priority: -(2 ** 31),
      maxAttempts: 2 ** 31 - 1,
      runAt: new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999)),
      queue: 'emoji 😀 queue',
    });
    const stored = (await jobs.get(edge.id))!;
    expect(stored.data).toEqual(nested(31));
    expect(stored.priority).toBe(-(2 ** 31));
    expect(stored.maxAttempts).toBe(2 ** 31 - 1);
    expect(stored.runAt.toISOString()).toBe('9999-12-31T23:59:59.999Z');
    expect(stored.queue).toBe('emoji 😀 queue');
    const later = await jobs.enqueue('echo', 'x'.repeat(MAX_PAYLOAD - 2), { delay: '2w' });
    expect((await jobs.get(later.id))!.runAt.getTime()).toBeGreaterThanOrEqual(
      later.created.getTime() + 14 * DAY,
    );
  });
});

// enqueueMany sends up to 1,000 rows per INSERT: large payloads must be split by bytes as well, or
// the statement passes MariaDB's max_allowed_packet (16 MiB by default) and nothing is stored.
describeBackends('enqueueMany with large payloads', (backend) => {
  it('stores 8 payloads of 3 MB (24 MB in all) in statements each backend accepts', async () => {
    await withApp(
      {
        database: await freshDatabase(backend),
        providers: [Echo],
        jobs: { runner: false },
      },
      async (app) => {
        const jobs = app.get(JobsService);
        const big = (i: number) => ({ i, text: `${i}`.repeat(3_000_000) });
        const added = await jobs.enqueueMany(
          Array.from({ length: 8 }, (_, i) => ({ kind: 'echo', data: big(i) })),
        );
        expect(added).toHaveLength(8);
        for (const [i, job] of added.entries()) {
          const stored = (await jobs.get(job.id))!;
          expect((stored.data as { i: number }).i).toBe(i);
          expect((stored.data as { text: string }).text).toHaveLength(3_000_000);
        }
      },
    );
  });
});

@Injectable()
class MisspeltKind {
  @JobKind('misspelt', { maxAttemps: 3 } as JobKindOptions)
  run() {
    return undefined;
  }
}

@Injectable()
class TimeoutBeyondTimers {
  // Node's timers hold 2^31 - 1 ms at most; a longer timeout would fire at once.
  @JobKind('slow', { timeout: 30 * DAY })
  run() {
    return undefined;
  }
}

@Injectable()
class NulQueue {
  @JobKind('nul.queue', { queue: 'q\u0000' })
  run() {
    return undefined;
  }
}

describeBackends('hostile kind and module options', (backend) => {
  it.each([
    [
      'a misspelt kind option',
      { providers: [MisspeltKind] },
      UnknownJobsOptionError,
      /"maxAttemps"/,
    ],
    [
      'a kind timeout past what a timer holds',
      { providers: [TimeoutBeyondTimers] },
      InvalidJobsOptionError,
      /timeout of job kind "slow"/,
    ],
    [
      'a kind queue with NUL',
      { providers: [NulQueue] },
      InvalidJobsOptionError,
      /queue of job kind "nul.queue"/,
    ],
    [
      'a lease past what a timer holds',
      { jobs: { lease: 2 ** 31 } },
      InvalidJobsOptionError,
      /"lease"/,
    ],
    [
      'a maxPayloadSize that is not an integer',
      { jobs: { maxPayloadSize: '4MB' } },
      InvalidJobsOptionError,
      /"maxPayloadSize"/,
    ],
    [
      'a queue list with NUL',
      { jobs: { queues: ['ok', 'bad\u0000'] } },
      InvalidJobsOptionError,
      /"queues\[1\]"/,
    ],
  ] as const)(
    'refuses %s at startup, naming it, and writes no job',
    async (_what, spec, error, names) => {
      const database = await freshDatabase(backend);
      const start = startApp({ database, ...(spec as object) });
      await expect(start).rejects.toThrow(error);
      await expect(start).rejects.toThrow(names);
      const check = await startApp({ database, jobs: { runner: false } });
      try {
        expect(
          await check.get<DataSource>(getDataSourceToken()).getRepository(JobEntity).count(),
        ).toBe(0);
      } finally {
        await check.close();
      }
    },
  );

  it('checks results with the same rule as payloads', () => {
    expect(() => serializePayload('result', nested(40))).toThrow(InvalidJobPayloadError);
    expect(() => serializePayload('result', { s: '\ud800' })).toThrow(/\$\.s holds .*lone/);
  });
});

@Injectable()
class HostileResults {
  @JobKind('hostile.result')
  run(job: JobContext<{ give: 'deep' | 'surrogate' | 'nul' }>) {
    if (job.data.give === 'deep') return nested(40);
    return { text: job.data.give === 'nul' ? 'a\u0000b' : 'a\ud800b' };
  }
}

// A result a backend would refuse is logged and not stored, on every backend alike, instead of
// failing the outcome write (on MariaDB, the batch it was written with).
describeBackends('hostile handler results', (backend) => {
  it.each([
    ['deep', /\$(\[0\]){31} is nested 32 levels/],
    ['surrogate', /\$\.text holds .*lone UTF-16 surrogate/],
    ['nul', /\$\.text holds a NUL/],
  ] as const)('keeps the job, not a %s result, and says why in its logs', async (give, why) => {
    await withApp(
      {
        database: await freshDatabase(backend),
        providers: [HostileResults],
      },
      async (app) => {
        const job = await app.get(JobsService).enqueue('hostile.result', { give });
        const done = await waitForStatus(app, job.id, 'succeeded', 'failed');
        expect(done.status).toBe('succeeded');
        expect(done.result).toBeNull();
        expect(done.logs).toMatch(why);
      },
    );
  });
});
