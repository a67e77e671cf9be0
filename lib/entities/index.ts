export * from './job.entity.js';
export * from './job-kind.entity.js';
