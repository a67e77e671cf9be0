/**
 * Where one CLI run reads and writes. The binary (main.ts) gives it the process's own streams; a
 * host that runs many commands in one process (the test suites' CLI host) gives it buffers.
 */
export interface CliIo {
  /** The command's output (text, or one JSON object with --json). */
  stdout(text: string): void;
  /** Errors, hints and Nest's log lines. */
  stderr(text: string): void;
  /** All of stdin, read only when a command asks for it (`enqueue <kind> -`). */
  stdin(): Promise<string>;
  /** What a relative `--module` is resolved against. */
  cwd: string;
  /** Where `JOBS_CLI_MODULE` (and `JOBS_CLI_DEBUG`) are read. */
  env: Record<string, string | undefined>;
}

/** The process's own streams, working directory and environment. */
export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    cwd: process.cwd(),
    env: process.env,
  };
}
