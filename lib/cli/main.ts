#!/usr/bin/env node
/**
 * `npx nestjs-typeorm-jobs <command>`: boots the app's own module as a Nest application context
 * (no HTTP server, the background runner off) and acts through JobsService. See docs/cli.md; the
 * commands run in cli.run.ts.
 */
import 'reflect-metadata';
import { processIo } from './cli.io.js';
import { runCli } from './cli.run.js';

process.exitCode = await runCli(process.argv.slice(2), processIo());
// Anything the app left open (a pool, a timer) must not keep a cron job alive; stdout is flushed first.
setTimeout(() => process.exit(), 5_000).unref();
