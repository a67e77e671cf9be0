/**
 * SQLite shared by several processes: one file in WAL mode with a busy timeout. A claim is one
 * UPDATE ... RETURNING, and SQLite lets one writer at a time, so no job is claimed twice.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FAULT_SIZE,
  FaultRun,
  freshSqliteDatabase,
  limitFor,
  reportFigures,
  tally,
} from './harness.js';

const REPLICAS = 4;

describe('SQLite: several processes on one file (WAL, busy timeout)', () => {
  let run: FaultRun | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'jobs-fault-sqlite-'));

  afterEach(async () => {
    await run?.close();
    run = undefined;
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(
    `runs every one of ${FAULT_SIZE} jobs exactly once with ${REPLICAS} processes`,
    async () => {
      const database = freshSqliteDatabase(dir);
      run = await FaultRun.open('sqlite', database);
      const workers = await run.startMany(REPLICAS, {
        jobs: { concurrency: 10, pollInterval: 200, lease: 5_000 },
        handlerMs: 5,
      });
      const started = Date.now();
      const ids = await run.enqueueWork(FAULT_SIZE);
      await run.waitForSucceeded(ids.length);
      const seconds = (Date.now() - started) / 1000;
      const result = tally(ids, await run.rows(), run.records());
      const busy = workers.map((worker) => worker.lines(/SQLITE_BUSY|database is locked/).length);
      reportFigures('sqlite-multi-process', 'sqlite', {
        jobs: result.jobs,
        lost: result.lost.length,
        runTwice: result.twice.size,
        busyWarningsPerWorker: busy,
        perWorker: Object.fromEntries(
          workers.map((w) => [w.name, run!.records(w.name).filter((r) => r.e === 'end').length]),
        ),
        seconds,
      });
      expect(result.lost).toEqual([]);
      expect([...result.twice.keys()]).toEqual([]);
      expect(result.statuses).toEqual({ succeeded: ids.length });
    },
    limitFor(FAULT_SIZE) + 60_000,
  );
});
