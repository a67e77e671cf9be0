/** Every error and warning text the module prints, in one place. */
export const messages = {
  jobCancelled: (id: number) => `Job ${id} was cancelled.`,
  jobLeaseLost: (id: number, why: string) => `This instance no longer holds job ${id}: ${why}.`,
  shuttingDown: (graceMs: number) =>
    `The application is shutting down and the ${graceMs} ms grace (shutdownTimeout) has passed; ` +
    `the job is given back and will run again.`,
  jobFailed: (id: number, kind: string, lastError: string | null) =>
    `Job ${id} (${kind}) failed for good: ${lastError ?? 'no error was recorded'}`,
  waitTimedOut: (id: number, timeoutMs: number) =>
    `Job ${id} had not ended after waiting ${timeoutMs} ms; it goes on. Wait again, or cancel it.`,
  notWaitable: (id: number | null, kind: string) =>
    `${id === null ? 'A job' : `Job ${id}`} of kind "${kind}" is periodic: it never ends, so it ` +
    `cannot be waited for. Wait for one-off jobs; listen to the 'succeeded' event for a periodic job's runs.`,
  invalidProgress: (id: number, reason: string) =>
    `job.progress() of job ${id} was given a value that cannot be stored: ${reason}. ` +
    `Pass a number (e.g. a percentage) or a plain JSON value.`,
  transactionMisused: (id: number, reason: string) =>
    `job.transaction() of job ${id} ${reason}. Call it once per run, from the handler, before it returns.`,
  progressNotSaved: (id: number, reason: string) =>
    `The progress of job ${id} could not be stored (${reason}); the run goes on.`,
  runAbandoned: (id: number, kind: string, reason: string) =>
    `Job ${id} (${kind}) stops here: ${reason} Its signal is aborted, its slot freed, and whatever it returns is dropped.`,
  duplicateKind: (name: string, first: string, second: string) =>
    `Job kind "${name}" is declared twice: by ${first} and by ${second}. ` +
    `Give each @JobKind() a unique name.`,
  requestScoped: (provider: string, method: string) =>
    `${provider}.${method} has @JobKind() but ${provider} is request-scoped; ` +
    `job handlers must live on singleton providers, so it is skipped.`,
  unknownKind: (name: string) =>
    `Unknown job kind "${name}": no @JobKind('${name}') handler is registered in this app ` +
    `and no instance sharing this database has registered it. Check the name; an app that only ` +
    `enqueues it lists it in JobsModule.forRoot({ kinds: [...] }) or enqueues a defineJobKind() reference.`,
  invalidPayload: (kind: string, path: string, reason: string) =>
    `The data for job kind "${kind}" cannot be stored as given: ${path} ${reason}. ` +
    `Pass plain objects, arrays, strings, finite numbers, booleans and null (Dates become ISO strings).`,
  invalidOption: (option: string, value: unknown, expected: string) =>
    `Invalid nestjs-typeorm-jobs option "${option}": got ${describe(value)}, expected ${expected}.`,
  unknownOption: (where: string, key: string, known: string[]) =>
    `Unknown ${where} option "${key}": it would be ignored, so nothing was done. ` +
    `Check the spelling; the known options are: ${known.join(', ')}.`,
  unsupportedDatabase: (type: string) =>
    `nestjs-typeorm-jobs does not support TypeORM data sources of type "${type}". ` +
    `Use postgres, mysql, mariadb, better-sqlite3 or sqlite.`,
  entitiesMissing: (entities: string[]) =>
    `The TypeORM data source does not know ${entities.join(' and ')} of nestjs-typeorm-jobs: its ` +
    `entities are listed by hand without them. Add them, as entities: [...yourEntities, ...JOBS_ENTITIES] ` +
    `(JOBS_ENTITIES from 'nestjs-typeorm-jobs'), or set autoLoadEntities: true.`,
  schemaMissing: (migration: string) =>
    `The tables of nestjs-typeorm-jobs are not up to date: migration ${migration} has not run, and ` +
    `JobsModule has schema: 'migrations'. Add ...JOBS_MIGRATIONS to your data source's migrations and ` +
    `run them (migrationsRun: true, or typeorm migration:run), or leave schema at 'auto' to let the ` +
    `module create its tables at startup.`,
  schemaLockTimeout: (seconds: number) =>
    `nestjs-typeorm-jobs waited ${seconds} s for another instance creating its tables, and gave up; ` +
    `restart this instance once that one has started.`,
  jobNotFound: (id: number) => `Job ${id} does not exist.`,
  notRetryable: (id: number, status: string) =>
    `Job ${id} is ${status}; only failed or cancelled jobs can be retried (a pending one: runNow([id]) makes it due now).`,
  outage: (error: string, waitMs: number) =>
    `Database unreachable (${error}); the jobs runner retries in ${waitMs < 1_000 ? `${waitMs} ms` : `${Math.round(waitMs / 1_000)} s`}.`,
  outageOver: (seconds: number) =>
    `Database reachable again after ${seconds}s; the runner resumes.`,
  leaseLost: (id: number) =>
    `Job ${id} finished here, but its lease had moved on (it expired, or the job was cancelled, ` +
    `paused or deleted); the outcome is discarded.`,
  resultNotSaved: (id: number, error: string) =>
    `The outcome of job ${id} could not be written (${error}); it will run again after its lease expires.`,
  outcomeRefused: (id: number, error: string) =>
    `The database refused the outcome of job ${id} (${error}); it was written without its result and logs.`,
  runnerFault: (id: number, error: string) =>
    `The run of job ${id} ended in a fault of the runner itself (${error}); the job runs again after its lease expires.`,
  resultNotJson: (error: string) =>
    `The handler's return value is not JSON and was not kept: ${error}`,
  resultTooLarge: (size: number, max: number) =>
    `The handler's return value is ${size} characters of JSON, over the ${max} limit, and was not kept.`,
  timedOut: (ms: number) => `Timed out after ${ms} ms.`,
  shutdownAborted: (count: number, ms: number) =>
    `${count} job(s) still running ${ms} ms after shutdown began were aborted and released for another worker.`,
  listenLost: (error: string, waitMs: number) =>
    `The LISTEN connection for job wake-ups failed (${error}); polling carries on, and it reconnects in ` +
    `${Math.round(waitMs / 1_000)} s. Behind PgBouncer in transaction mode, set notify: false.`,
  listenBack: () => `The LISTEN connection for job wake-ups is back.`,
  poolTooSmallToListen: (size: number) =>
    `The PostgreSQL pool has ${size} connection(s): too few to hold one for LISTEN, so job wake-ups ` +
    `across instances are off and runners find other instances' jobs by polling. Raise the pool size ` +
    `(extra: { max }) or set notify: false to silence this.`,
  scheduleNotFound: (key: string) =>
    `There is no schedule "${key}": name a kind whose @JobKind declares cron or every, or the key ` +
    `given to schedule(). JobsService.schedules() (CLI: schedules) lists them.`,
  scheduleNotCancellable: (id: number, key: string, declared: boolean) =>
    `Job ${id} is the schedule "${key}"; cancelling it was refused` +
    (declared ? `, as the next start of any instance would bring it back. ` : '. ') +
    `Pause it with pauseSchedule('${key}') (CLI: pause-schedule ${key}) and resume it later, or ` +
    (declared
      ? `turn it off for good by removing cron/every from its @JobKind.`
      : `remove it with unschedule('${key}').`),
  noHandler: (kind: string) => `No handler for kind "${kind}" in this instance.`,
  sqliteTransactionOpen: (ms: number) =>
    `nestjs-typeorm-jobs waited ${ms} ms for a transaction of the application to end on SQLite, and ` +
    `wrote nothing. TypeORM drives SQLite through one connection, so a write made meanwhile would ` +
    `join that transaction and be undone if it rolled back. To enqueue inside a transaction, pass ` +
    `its EntityManager: enqueue(kind, data, { manager }); otherwise enqueue after it ends.`,
  waitShutdown: (id: number) =>
    `Stopped waiting for job ${id}: the application is shutting down. The job itself goes on; ` +
    `read its outcome later with get(${id}).`,
};

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null)
    return String(value);
  return typeof value;
}
