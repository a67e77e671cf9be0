import { SetMetadata } from '@nestjs/common';
import { JOB_KIND_METADATA } from '../jobs.constants.js';
import type { JobKindOptions } from '../interfaces/job-kind-options.interface.js';

export interface JobKindMetadata {
  name: string;
  options: JobKindOptions;
}

/**
 * Marks a method of a singleton provider as the handler of a kind of job. The method receives a
 * `JobContext`; a string it returns is appended to the job's logs, other values are kept as the
 * job's result; a thrown error fails the run (retried with backoff up to `maxAttempts`).
 */
export function JobKind(name: string, options: JobKindOptions = {}): MethodDecorator {
  return SetMetadata<string, JobKindMetadata>(JOB_KIND_METADATA, { name, options });
}
