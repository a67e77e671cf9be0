// Counts the statements a process sends to its database, by wrapping the drivers' own query
// methods (pg's Client#query, mysql2's Connection#query/#execute, better-sqlite3's statement
// calls, ioredis's Redis#sendCommand for BullMQ on Redis). Every copy of a driver that this
// process can load is wrapped: the library's (from the repository's node_modules) and the peers'
// (from bench/node_modules).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
const requirers = [
  createRequire(here),
  createRequire(new URL('../../dist/index.js', import.meta.url)),
];

export const counter = { statements: 0 };

function wrap(proto, names) {
  for (const name of names) {
    let owner = proto;
    while (owner && !Object.prototype.hasOwnProperty.call(owner, name))
      owner = Object.getPrototypeOf(owner);
    if (!owner || owner[`__benchCounted_${name}`]) continue;
    const original = owner[name];
    owner[name] = function counted(...args) {
      counter.statements++;
      return original.apply(this, args);
    };
    owner[`__benchCounted_${name}`] = true;
  }
}

function tryLoad(require, id) {
  try {
    return require(id);
  } catch {
    return null;
  }
}

export function installCounters() {
  for (const require of requirers) {
    const pg = tryLoad(require, 'pg');
    if (pg) wrap(pg.Client.prototype, ['query']);
    const mysql = tryLoad(require, 'mysql2');
    if (mysql?.Connection) {
      wrap(mysql.Connection.prototype, ['query', 'execute']);
    }
    // BullMQ on Redis: each command ioredis writes (a pipeline's commands one by one; a Lua
    // script is one EVALSHA).
    const ioredis = tryLoad(require, 'ioredis');
    if (ioredis?.Redis) wrap(ioredis.Redis.prototype, ['sendCommand']);
    const Sqlite = tryLoad(require, 'better-sqlite3');
    if (Sqlite) {
      const db = new Sqlite(':memory:');
      const statementProto = Object.getPrototypeOf(db.prepare('SELECT 1'));
      db.close();
      wrap(statementProto, ['run', 'get', 'all', 'iterate']);
      wrap(Sqlite.prototype, ['exec']);
    }
  }
}
