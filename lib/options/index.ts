export * from './duration.js';
export * from './options.bounds.js';
export * from './options.validation.js';
export * from './enqueue.options.js';
export * from './flow.options.js';
