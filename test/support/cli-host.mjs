// One process that runs many CLI commands, for the test suites (test/support/cli-suite.ts): the
// built CLI's runCli (dist/cli/cli.run.js, what dist/cli/main.js runs) called once per request that
// comes over the IPC channel, one at a time, each booting the app module afresh and closing it. A
// spawn per command costs one to six seconds of CPU in Node, Nest and TypeORM's imports alone; this
// pays them once per test file. The binary itself is still spawned by a few tests.
import { runCli } from '../../dist/cli/cli.run.js';

let turn = Promise.resolve();

async function handle({ id, args, env, input, cwd }) {
  // The test app modules read CLI_APP_DATABASE when the app boots (test/cli-app/shared.mjs).
  Object.assign(process.env, env);
  let stdout = '';
  let stderr = '';
  let code;
  try {
    code = await runCli(args, {
      stdout: (text) => (stdout += text),
      stderr: (text) => (stderr += text),
      stdin: async () => input ?? '',
      cwd,
      env: { ...process.env },
    });
  } catch (error) {
    // runCli answers every failure with an exit code: a throw is a bug the test must see.
    stderr += `cli host: runCli threw: ${error?.stack ?? String(error)}\n`;
    code = 70;
  }
  process.send({ id, code, stdout, stderr });
}

process.on('message', (request) => {
  turn = turn.then(() => handle(request));
});
// The test file is done with it (or its worker died): nothing of it may outlive the suite.
process.on('disconnect', () => process.exit(0));
