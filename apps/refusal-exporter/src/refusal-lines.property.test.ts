// Properties of the two log parsers (fast-check; runs: lib/src/testing/fuzz.ts): no line makes either throw anything
// but its own format error; a refusal line built from any account, table and column names parses back to them; a
// ZooKeeper refusal line with any principal and path, escaped as the plugin escapes, parses back to them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzParameters } from '@fleetcap/lib/testing/fuzz';
import fc from 'fast-check';
import { parseSqlErrorLine, SqlErrorLineError } from './mariadb-sql-error-line.ts';
import { parseZookeeperRefusalLine, RefusalLineError, ZOOKEEPER_REFUSAL_MARK } from './zookeeper-refusal-line.ts';

const anyLine = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ maxLength: 200 }).map((s) => `2026-12-02 11:11:23 ${s}`),
  fc.string({ maxLength: 200 }).map((s) => `2026-12-02 11:11:23 u[u] @ h [1.2.3.4] ERROR 1143: ${s}`),
  fc.string({ maxLength: 200 }).map((s) => `x ${ZOOKEEPER_REFUSAL_MARK}${s}`),
);

test('no line makes a parser throw anything but its format error', () => {
  fc.assert(
    fc.property(anyLine, (line) => {
      try {
        parseSqlErrorLine(line);
      } catch (e) {
        if (!(e instanceof SqlErrorLineError)) throw e;
      }
      try {
        parseZookeeperRefusalLine(line);
      } catch (e) {
        if (!(e instanceof RefusalLineError)) throw e;
      }
    }),
    fuzzParameters(3000),
  );
});

// MariaDB identifiers: what a client may name (no quote of the kind around it, no line break).
const name = fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !/['`\n]/.test(s) && !s.includes(' : '));

test('a refused column of any account, table and column parses back to them', () => {
  fc.assert(
    fc.property(name, name, name, name, (user, host, table, column) => {
      const line = `2026-12-02 11:11:23 ${user}[${user}] @ ${host} [127.0.0.1] ERROR 1143: SELECT command denied to user '${user}'@'${host}' for column '${column}' in table '${table}' : select 1`;
      const r = parseSqlErrorLine(line);
      assert.equal(r.type, 'refusal');
      if (r.type !== 'refusal') return;
      assert.deepEqual(
        [r.refusal.user, r.refusal.host, r.refusal.object, r.refusal.kind],
        [user, host, `${table}.${column}`, 'column'],
      );
    }),
    fuzzParameters(2000),
  );
});

/** The plugin's escape (stack/zookeeper/AclRefusalLog.java, escape). */
function escapeAsPlugin(value: string): string {
  let out = '';
  for (const c of value) {
    if (c === '\\') out += '\\\\';
    else if (c === ',') out += '\\,';
    else if (c === '\t') out += '\\t';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
      out += `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += c;
  }
  return out;
}

test('a ZooKeeper refusal with any principals and path parses back to them', () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ maxLength: 20 }), { minLength: 1, maxLength: 3 }),
      fc.string({ maxLength: 40 }).map((s) => `/${s}`),
      (principals, znode) => {
        const line = `1 [SyncThread:0] WARN fleetcap.acl-refusal - ${ZOOKEEPER_REFUSAL_MARK}session=0x1\tprincipal=${principals.map(escapeAsPlugin).join(',')}\tip=127.0.0.1\tpermission=write\tznode=${escapeAsPlugin(znode)}\tkind=other-principal`;
        const r = parseZookeeperRefusalLine(line);
        assert.deepEqual([r?.principals, r?.znode], [principals, znode]);
      },
    ),
    fuzzParameters(2000),
  );
});
