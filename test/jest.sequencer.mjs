/**
 * The order jest hands test files to its workers. Jest's own order (a file that failed last time
 * first, then the longest last time, then the largest) needs its cache of past runs, which a fresh
 * clone has not got. Suites that start processes (child_process) or a browser take longest by far,
 * and if one started last the run would wait for it alone: they go first, in jest's order among
 * themselves, then every other file in jest's order.
 */
import { readFileSync } from 'node:fs';
import Sequencer from '@jest/test-sequencer';

const startsProcesses =
  /\bfrom 'node:child_process'|\bfrom 'playwright-core'|\bfrom '\.\/(fault\/harness|support\/cli-suite)\.js'/;

export default class SlowFirstSequencer extends Sequencer {
  async sort(tests) {
    const ordered = await super.sort(tests);
    const slow = new Set(
      ordered.filter((test) => startsProcesses.test(readFileSync(test.path, 'utf8'))),
    );
    return [...slow, ...ordered.filter((test) => !slow.has(test))];
  }
}
