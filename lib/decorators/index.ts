export * from './job-kind.decorator.js';
