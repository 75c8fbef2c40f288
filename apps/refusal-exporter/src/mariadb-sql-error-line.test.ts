import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSqlErrorLine, SqlErrorLineError } from './mariadb-sql-error-line.ts';

// As MariaDB 10.11's sql_errlog wrote them on the stack (stack/stack.sh installs the plugin).
const lines = {
  column:
    "2026-12-02 11:11:23 probe[probe] @ localhost [127.0.0.1] ERROR 1143: SELECT command denied to user 'probe'@'localhost' for column 'b' in table 'probe_t' : select b from fleetcap.probe_t",
  table:
    "2026-12-02 11:11:23 probe[probe] @ localhost [127.0.0.1] ERROR 1142: DELETE command denied to user 'probe'@'localhost' for table `fleetcap`.`probe_t` : delete from fleetcap.probe_t",
  database:
    "2026-12-02 11:11:23 probe[probe] @ localhost [127.0.0.1] ERROR 1044: Access denied for user 'probe'@'127.0.0.1' to database 'mysql' : (null)",
  login:
    "2026-12-02 11:11:24 [probe] @ localhost [127.0.0.1] ERROR 1045: Access denied for user 'probe'@'localhost' (using password: YES) : (null)",
  syntax:
    "2026-12-02 11:11:23 probe[probe] @ localhost [127.0.0.1] ERROR 1064: You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'selec 1",
};

test('a refused column: the account, the column and its table, the command, the statement', () => {
  const r = parseSqlErrorLine(lines.column);
  assert.equal(r.type, 'refusal');
  assert.deepEqual(r.type === 'refusal' && r.refusal, {
    time: '2026-12-02 11:11:23',
    code: 1143,
    kind: 'column',
    user: 'probe',
    host: 'localhost',
    ip: '127.0.0.1',
    operation: 'SELECT',
    object: 'probe_t.b',
    query: 'select b from fleetcap.probe_t',
  });
});

test('a refused table, database and login; the kinds and objects', () => {
  const got = (line: string) => {
    const r = parseSqlErrorLine(line);
    assert.equal(r.type, 'refusal', line);
    return r.type === 'refusal'
      ? [r.refusal.kind, r.refusal.operation, r.refusal.object, r.refusal.user, r.refusal.query]
      : [];
  };
  assert.deepEqual(got(lines.table), [
    'table',
    'DELETE',
    '`fleetcap`.`probe_t`',
    'probe',
    'delete from fleetcap.probe_t',
  ]);
  assert.deepEqual(got(lines.database), ['database', 'use', 'mysql', 'probe', '']);
  assert.deepEqual(got(lines.login), ['login', 'connect', '', 'probe', '']);
  assert.deepEqual(
    got(
      '2026-12-02  9:01:02 bob[bob] @ localhost [10.0.0.5] ERROR 1227: Access denied; you need (at least one of) the SUPER privilege(s) for this operation : SET GLOBAL x = 1',
    ),
    ['privilege', 'privilege', 'SUPER', 'bob', 'SET GLOBAL x = 1'],
  );
});

test('the space-padded hour, other errors, warnings and the lines of a multi-line statement', () => {
  const r = parseSqlErrorLine(lines.column.replace('11:11:23', ' 9:11:23'));
  assert.equal(r.type === 'refusal' && r.refusal.time, '2026-12-02 09:11:23');
  assert.deepEqual(parseSqlErrorLine(lines.syntax), { type: 'other-error', code: 1064 });
  assert.deepEqual(parseSqlErrorLine(lines.column.replace('ERROR 1143', 'WARNING 1143')), {
    type: 'other-error',
    code: 1143,
  });
  assert.deepEqual(parseSqlErrorLine(" 2' at line 1 : selec 1"), { type: 'continuation' });
  assert.deepEqual(parseSqlErrorLine(''), { type: 'continuation' });
});

test('a refusal code with a message of another form, or a dated line that is no header, is refused', () => {
  assert.throws(
    () => parseSqlErrorLine(lines.column.replace('command denied', 'Befehl verweigert')),
    (e: unknown) => e instanceof SqlErrorLineError && /error 1143 with a message not of the form/.test(e.message),
  );
  assert.throws(() => parseSqlErrorLine('2026-12-02 11:11:23 something else'), SqlErrorLineError);
});
