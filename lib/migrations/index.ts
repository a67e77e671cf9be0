import {
  JobsFlowControl1799452800000,
  JobsFlows1800662400000,
  JobsKindHandlers1796774400000,
  JobsKindPermits1800057600000,
  JobsQueues1798588800000,
  JobsRunControl1797984000000,
  JobsRunOptions1796169600000,
  JobsSchema1795478400000,
  JobsTracing1801267200000,
  JobsPendingDueIndex1801872000000,
  JobsPartialActiveKey1802476800000,
} from './jobs-schema.migration.js';

export {
  JobsFlowControl1799452800000,
  JobsFlows1800662400000,
  JobsKindHandlers1796774400000,
  JobsKindPermits1800057600000,
  JobsQueues1798588800000,
  JobsRunControl1797984000000,
  JobsRunOptions1796169600000,
  JobsSchema1795478400000,
  JobsTracing1801267200000,
  JobsPendingDueIndex1801872000000,
  JobsPartialActiveKey1802476800000,
};

/**
 * Every migration of the package's tables, oldest first, one per step of JOBS_SCHEMA_STEPS (the
 * same SQL, which the module applies itself with `schema: 'auto'`). A release that changes the
 * schema appends a step and its class and never edits an old one, so
 * `migrations: [...JOBS_MIGRATIONS, ...]` stays right.
 */
export const JOBS_MIGRATIONS = [
  JobsSchema1795478400000,
  JobsRunOptions1796169600000,
  JobsKindHandlers1796774400000,
  JobsRunControl1797984000000,
  JobsQueues1798588800000,
  JobsFlowControl1799452800000,
  JobsKindPermits1800057600000,
  JobsFlows1800662400000,
  JobsTracing1801267200000,
  JobsPendingDueIndex1801872000000,
  JobsPartialActiveKey1802476800000,
];
