import type { SqlResult } from './sql.js';

/**
 * A transaction written once as a sequence of statements (a generator that yields each statement
 * and gets its result back), so one piece of code serves both kinds of driver: JobStore runs it in
 * an async transaction on PostgreSQL and MariaDB, and synchronously inside BEGIN IMMEDIATE on
 * better-sqlite3 (where no other statement may slip in between).
 */
export interface Statement {
  text: string;
  params: unknown[];
}

export type StatementSteps<T> = Generator<Statement, T, SqlResult>;

/** Runs the steps with an async statement runner (inside a transaction). */
export async function runSteps<T>(
  steps: StatementSteps<T>,
  run: (statement: Statement) => Promise<SqlResult>,
): Promise<T> {
  let step = steps.next(undefined as never);
  while (!step.done) step = steps.next(await run(step.value));
  return step.value;
}

/** Runs the steps with a synchronous statement runner (better-sqlite3, inside BEGIN IMMEDIATE). */
export function runStepsNow<T>(
  steps: StatementSteps<T>,
  run: (statement: Statement) => SqlResult,
): T {
  let step = steps.next(undefined as never);
  while (!step.done) step = steps.next(run(step.value));
  return step.value;
}
