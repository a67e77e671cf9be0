// Compiled by `tsc --noEmit` (npm test's first step), never run: each `@ts-expect-error` line must
// fail to compile, so a wrong payload or handler type is caught at compile time.
import { Injectable } from '@nestjs/common';
import {
  defineJobKind,
  JobKind,
  jobSpec,
  type JobContext,
  type JobsService,
} from 'nestjs-typeorm-jobs';

export const SendDigest = defineJobKind<{ userId: string }>('digest.send');

@Injectable()
export class DigestJobs {
  @JobKind(SendDigest)
  send(job: JobContext<{ userId: string }>) {
    return job.data.userId.toUpperCase();
  }
}

@Injectable()
export class WrongHandler {
  // @ts-expect-error the handler's payload type does not match the kind's
  @JobKind(SendDigest)
  send(job: JobContext<{ userId: number }>) {
    return job.data.userId;
  }
}

export async function enqueueChecks(jobs: JobsService) {
  const job = await jobs.enqueue(SendDigest, { userId: 'u1' });
  const id: string = job.data.userId;
  // @ts-expect-error wrong field type
  await jobs.enqueue(SendDigest, { userId: 42 });
  // @ts-expect-error missing field
  await jobs.enqueue(SendDigest, {});
  // @ts-expect-error the payload is required for a typed kind
  await jobs.enqueue(SendDigest);
  await jobs.enqueueMany([
    jobSpec(SendDigest, { userId: 'a' }),
    { kind: 'any.string.kind', data: 1 },
  ]);
  // @ts-expect-error wrong payload in a typed spec
  jobSpec(SendDigest, { user: 'a' });
  // The string form stays available, untyped.
  await jobs.enqueue('digest.send', { anything: true });
  return id;
}
