/** Exit codes of the CLI: documented in docs/cli.md, relied on by cron and scripts. */
export const EXIT_OK = 0;
/** The command ran, but a job failed (run) or could not be acted on (cancel of a finished job). */
export const EXIT_JOB_FAILURE = 1;
/** Bad arguments, an unknown command, kind or id, or a module that cannot be loaded. */
export const EXIT_USAGE = 2;

/** A mistake in how the CLI was called: reported with a hint and exit code 2. */
export class CliUsageError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CliUsageError';
  }
}
