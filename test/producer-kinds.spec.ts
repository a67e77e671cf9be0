import { Injectable } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import {
  InvalidJobPayloadError,
  InvalidJobsOptionError,
  JobKind,
  JobsService,
  UnknownJobKindError,
  defineJobKind,
  jobSpec,
  type JobContext,
} from 'nestjs-typeorm-jobs';
import { JobStore } from '../lib/storage/job.store.js';
import { describeBackends } from './support/backends.js';
import { closeCleaners, freshDatabase, startApp, waitForStatus } from './support/fixtures.js';

// A web tier (runner: false, no handlers) and the workers that run what it enqueues. The producer
// starts on a fresh database, before any worker has ever registered a kind.
const SendInvoice = defineJobKind<{ invoice: number }>('billing.invoice');

@Injectable()
class Workers {
  @JobKind('mail.send')
  send(job: JobContext<{ to: string }>) {
    return `sent to ${job.data.to}`;
  }

  @JobKind(SendInvoice)
  invoice(job: JobContext<{ invoice: number }>) {
    return { invoiced: job.data.invoice };
  }
}

// Declared with its defaults once, for the worker's handler and for producers without it.
const SendDigest = defineJobKind<{ user: string }>('digest.send', {
  maxAttempts: 1,
  queue: 'mail',
  priority: -3,
});

@Injectable()
class DigestWorker {
  @JobKind(SendDigest)
  send(): never {
    throw new Error('smtp down');
  }
}

const SendReminder = defineJobKind<{ user: string }>('reminder.send', {
  maxAttempts: 1,
  queue: 'mail',
});

@Injectable()
class ReminderWorker {
  @JobKind(SendReminder, { maxAttempts: 3 })
  send() {
    return undefined;
  }
}

async function count(app: TestingModule, table: 'nest_jobs' | 'nest_job_kinds'): Promise<number> {
  const [row] = await app
    .get<DataSource>(getDataSourceToken())
    .query(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number(row.n);
}

async function kindNames(app: TestingModule): Promise<string[]> {
  return (await app.get(JobsService).kinds()).map((kind) => kind.name);
}

afterAll(closeCleaners);

describeBackends('a producer enqueues kinds it declares', (backend) => {
  it('records the kinds option at startup, enqueues them, and a worker started later runs them', async () => {
    const database = await freshDatabase(backend);
    const web = await startApp({
      database,
      jobs: { runner: false, kinds: ['mail.send', SendInvoice] },
    });
    try {
      expect(await kindNames(web)).toEqual(['billing.invoice', 'mail.send']);
      const jobs = web.get(JobsService);
      const mail = await jobs.enqueue('mail.send', { to: 'a@b.c' });
      const [invoice] = await jobs.enqueueMany([{ kind: 'billing.invoice', data: { invoice: 7 } }]);
      const worker = await startApp({ database, providers: [Workers] });
      try {
        expect((await waitForStatus(worker, mail.id, 'succeeded')).result).toBe('sent to a@b.c');
        expect((await waitForStatus(worker, invoice.id, 'succeeded')).result).toEqual({
          invoiced: 7,
        });
        // The worker found the producer's rows and kept their ids.
        const kinds = await worker.get(JobsService).kinds();
        expect(kinds.find((kind) => kind.name === 'mail.send')?.id).toBe(mail.kindId);
        expect(kinds.every((kind) => kind.resolves)).toBe(true);
      } finally {
        await worker.close();
      }
    } finally {
      await web.close();
    }
  });

  it('enqueues through a defineJobKind reference on a fresh database, recording the kind on first use', async () => {
    const database = await freshDatabase(backend);
    const web = await startApp({ database, jobs: { runner: false } });
    try {
      expect(await kindNames(web)).toEqual([]);
      const jobs = web.get(JobsService);
      const first = await jobs.enqueue(SendInvoice, { invoice: 1 });
      const [second] = await jobs.enqueueMany([jobSpec(SendInvoice, { invoice: 2 })]);
      expect(await kindNames(web)).toEqual(['billing.invoice']);
      expect(first.kindId).not.toBeNull();
      expect(second.kindId).toBe(first.kindId);
      const worker = await startApp({ database, providers: [Workers] });
      try {
        expect((await waitForStatus(worker, second.id, 'succeeded')).result).toEqual({
          invoiced: 2,
        });
      } finally {
        await worker.close();
      }
    } finally {
      await web.close();
    }
  });

  it('still refuses a name no instance registered and the kinds option does not list, writing nothing', async () => {
    const web = await startApp({
      database: await freshDatabase(backend),
      jobs: { runner: false, kinds: ['mail.send'] },
    });
    try {
      const jobs = web.get(JobsService);
      await expect(jobs.enqueue('mail.sned', { to: 'a@b.c' })).rejects.toThrow(UnknownJobKindError);
      // One typo in a batch refuses the batch, declared kinds of it included.
      await expect(
        jobs.enqueueMany([
          jobSpec(SendInvoice, { invoice: 3 }),
          { kind: 'mail.sned', data: { to: 'a@b.c' } },
        ]),
      ).rejects.toThrow(/Unknown job kind "mail\.sned"/);
      expect(await count(web, 'nest_jobs')).toBe(0);
      expect(await kindNames(web)).toEqual(['mail.send']);
    } finally {
      await web.close();
    }
  });

  it('records no kind for a refused enqueue through a reference', async () => {
    const web = await startApp({ database: await freshDatabase(backend), jobs: { runner: false } });
    try {
      await expect(
        web.get(JobsService).enqueue(SendInvoice, { invoice: 10n } as never),
      ).rejects.toThrow(InvalidJobPayloadError);
      expect(await count(web, 'nest_jobs')).toBe(0);
      expect(await count(web, 'nest_job_kinds')).toBe(0);
    } finally {
      await web.close();
    }
  });

  it('records a kind first used in a transaction with it: a rollback leaves neither job nor kind', async () => {
    const web = await startApp({ database: await freshDatabase(backend), jobs: { runner: false } });
    try {
      const jobs = web.get(JobsService);
      const source = web.get<DataSource>(getDataSourceToken());
      await expect(
        source.transaction(async (manager) => {
          await jobs.enqueue(SendInvoice, { invoice: 4 }, { manager });
          await jobs.enqueue(SendInvoice, { invoice: 5 }, { manager });
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await count(web, 'nest_jobs')).toBe(0);
      expect(await count(web, 'nest_job_kinds')).toBe(0);
      // Nothing remembered the rolled-back kind row: the next enqueue records it again.
      const job = await jobs.enqueue(SendInvoice, { invoice: 6 });
      const [kind] = await web.get(JobsService).kinds();
      expect(kind.name).toBe('billing.invoice');
      expect(job.kindId).toBe(kind.id);
    } finally {
      await web.close();
    }
  });

  it('does not remember a kind row read outside the open transaction that wrote it', async () => {
    // On SQLite the module reads through the app's one connection, so it sees that row uncommitted.
    const web = await startApp({ database: await freshDatabase(backend), jobs: { runner: false } });
    try {
      const jobs = web.get(JobsService);
      await expect(
        web.get<DataSource>(getDataSourceToken()).transaction(async (manager) => {
          await jobs.enqueue(SendInvoice, { invoice: 4 }, { manager });
          await web.get(JobStore).kindId('billing.invoice');
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      const job = await jobs.enqueue(SendInvoice, { invoice: 5 });
      const kinds = await jobs.kinds();
      expect(kinds.map((kind) => kind.name)).toEqual(['billing.invoice']);
      expect(job.kindId).toBe(kinds[0].id);
    } finally {
      await web.close();
    }
  });

  it("gives a producer's jobs the defaults their reference carries, so a worker retries them as declared", async () => {
    const database = await freshDatabase(backend);
    const web = await startApp({ database, jobs: { runner: false, kinds: [SendDigest] } });
    try {
      const jobs = web.get(JobsService);
      const byRef = await jobs.enqueue(SendDigest, { user: 'u1' });
      const byName = await jobs.enqueue('digest.send', { user: 'u2' });
      for (const job of [byRef, byName]) {
        const stored = await jobs.get(job.id);
        expect([stored?.maxAttempts, stored?.queue, stored?.priority]).toEqual([1, 'mail', -3]);
      }
      const worker = await startApp({ database, providers: [DigestWorker] });
      try {
        // One attempt, as declared: the module's default (5) would leave it pending for a retry.
        const failed = await waitForStatus(worker, byRef.id, 'failed');
        expect([failed.attempts, failed.lastError]).toEqual([
          1,
          expect.stringContaining('smtp down'),
        ]);
        const [again] = await worker
          .get(JobsService)
          .enqueueMany([jobSpec(SendDigest, { user: 'u3' })]);
        expect([again.maxAttempts, again.queue, again.priority]).toEqual([1, 'mail', -3]);
      } finally {
        await worker.close();
      }
    } finally {
      await web.close();
    }
  });

  it("lets a handler's @JobKind options override its reference's defaults, key by key", async () => {
    const worker = await startApp({
      database: await freshDatabase(backend),
      providers: [ReminderWorker],
      jobs: { runner: false },
    });
    try {
      const job = await worker.get(JobsService).enqueue(SendReminder, { user: 'u1' });
      expect([job.maxAttempts, job.queue]).toEqual([3, 'mail']);
    } finally {
      await worker.close();
    }
  });

  it('refuses a kinds option or a reference that is not a kind name or has bad defaults, naming it', async () => {
    const database = await freshDatabase(backend);
    await expect(startApp({ database, jobs: { kinds: ['mail.send', ''] } })).rejects.toThrow(
      /"kinds\[1\]"/,
    );
    await expect(startApp({ database, jobs: { kinds: 'mail.send' as never } })).rejects.toThrow(
      InvalidJobsOptionError,
    );
    expect(() => defineJobKind('')).toThrow(InvalidJobsOptionError);
    expect(() => defineJobKind('x', { maxAttempts: 0 })).toThrow(/maxAttempts of job kind "x"/);
    expect(() => defineJobKind('x', { dealy: 5 } as never)).toThrow(/dealy/);
  });
});
