export * from './jobs-module-options.interface.js';
export * from './job-kind-options.interface.js';
export * from './enqueue-options.interface.js';
export * from './job-context.interface.js';
export * from './jobs-service.interface.js';
export * from './schedule-options.interface.js';
