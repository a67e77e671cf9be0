export * from './jobs.errors.js';
