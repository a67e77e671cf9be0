export * from './jobs.events.js';
