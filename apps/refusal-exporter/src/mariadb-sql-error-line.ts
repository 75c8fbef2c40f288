// The entries of MariaDB's SQL error log (the sql_errlog plugin, `sql_errors.log` in the data directory; MariaDB
// 10.11, sql_error_log_with_db_and_thread_info=OFF, as stack/stack.sh installs it), one per failed statement:
//
//   entry       = header [ " : " query ] LF *( continuation LF )
//   header      = date SP time SP priv-user "[" user "] @ " host " [" ip "] " level SP code ": " message
//   date        = 4DIGIT "-" 2DIGIT "-" 2DIGIT
//   time        = ( SP DIGIT / 2DIGIT ) ":" 2DIGIT ":" 2DIGIT     ; the hour is space-padded
//   priv-user   = *VCHAR        ; the account's user, empty when the login was refused
//   user        = *VCHAR        ; the user name the client sent
//   level       = "ERROR" / "WARNING"
//   code        = 1*DIGIT
//   query       = the statement's text, "(null)" when there is none (a refused login)
//   continuation = a line of a statement (or message) that holds line breaks: it does not start with a date
//
// Every error is logged (syntax errors, duplicate keys...); the refusals are the access-denied codes below, whose
// message names the account (user'@'host) and what was refused. A header is complete at its line's end, so a
// refusal is counted when its first line is read; continuation lines add nothing to count.

export const mariadbRefusalKinds = ['table', 'column', 'database', 'routine', 'privilege', 'login'] as const;
export type MariadbRefusalKind = (typeof mariadbRefusalKinds)[number];

export interface MariadbRefusal {
  /** As logged, server-local time: `2026-12-02 11:11:23`. */
  time: string;
  code: number;
  kind: MariadbRefusalKind;
  /** The account's user name (from the message when it names one, else the one the client sent). */
  user: string;
  /** The host part of the account as MariaDB matched it (`localhost`, `127.0.0.1`, ...). */
  host: string;
  /** The client's address. */
  ip: string;
  /** SELECT, DELETE, ... (the command refused), `connect` for a login, `use` for a database. */
  operation: string;
  /** What was refused: `db`.`table`, table.column, a database, a routine, or the privileges needed. */
  object: string;
  /** The statement, first line only. */
  query: string;
}

export type SqlErrorLine =
  | { type: 'refusal'; refusal: MariadbRefusal }
  | { type: 'other-error'; code: number }
  | { type: 'continuation' };

export class SqlErrorLineError extends Error {}

const header =
  /^(\d{4}-\d{2}-\d{2}) ([ \d]\d:\d{2}:\d{2}) (.*?)\[(.*?)\] @ (.*?) \[(.*?)\] (ERROR|WARNING) (\d+): (.*)$/s;
const datePrefix = /^\d{4}-\d{2}-\d{2} [ \d]\d:\d{2}:\d{2} /;

/** Per refusal code: its kind and the pattern of `message : query` (MariaDB 10.11's English messages). */
const refusalPatterns: Record<number, { kind: MariadbRefusalKind; pattern: RegExp }> = {
  // ER_TABLEACCESS_DENIED_ERROR: SELECT command denied to user 'u'@'h' for table `db`.`t`
  1142: {
    kind: 'table',
    pattern: /^(\S+) command denied to user '(.*?)'@'(.*?)' for table (`.*?`(?:\.`.*?`)?)(?: : (.*))?$/s,
  },
  // ER_COLUMNACCESS_DENIED_ERROR: SELECT command denied to user 'u'@'h' for column 'c' in table 't'
  1143: {
    kind: 'column',
    pattern: /^(\S+) command denied to user '(.*?)'@'(.*?)' for column '(.*?)' in table '(.*?)'(?: : (.*))?$/s,
  },
  // ER_PROCACCESS_DENIED_ERROR: execute command denied to user 'u'@'h' for routine 'db.p'
  1370: { kind: 'routine', pattern: /^(\S+) command denied to user '(.*?)'@'(.*?)' for routine '(.*?)'(?: : (.*))?$/s },
  // ER_DBACCESS_DENIED_ERROR: Access denied for user 'u'@'h' to database 'db'
  1044: { kind: 'database', pattern: /^Access denied for user '(.*?)'@'(.*?)' to database '(.*?)'(?: : (.*))?$/s },
  // ER_ACCESS_DENIED_ERROR: Access denied for user 'u'@'h' (using password: YES)
  1045: {
    kind: 'login',
    pattern: /^Access denied for user '(.*?)'@'(.*?)'(?: \(using password: (?:YES|NO)\))?(?: : (.*))?$/s,
  },
  // ER_ACCESS_DENIED_NO_PASSWORD_ERROR: Access denied for user 'u'@'h'
  1698: { kind: 'login', pattern: /^Access denied for user '(.*?)'@'(.*?)'(?: : (.*))?$/s },
  // ER_SPECIFIC_ACCESS_DENIED_ERROR: Access denied; you need (at least one of) the SUPER privilege(s) for this operation
  1227: {
    kind: 'privilege',
    pattern: /^Access denied; you need \(at least one of\) the (.*?) privilege\(s\) for this operation(?: : (.*))?$/s,
  },
};

export const mariadbRefusalCodes: readonly number[] = Object.keys(refusalPatterns).map(Number);

/** One line of sql_errors.log. Throws SqlErrorLineError for a refusal code whose message is not the expected one. */
export function parseSqlErrorLine(line: string): SqlErrorLine {
  const h = header.exec(line);
  if (!h) {
    // A line of a multi-line statement; a date at its start with the rest not a header is a format we do not know.
    if (datePrefix.test(line)) throw new SqlErrorLineError(`a line that starts with a date but is no entry header`);
    return { type: 'continuation' };
  }
  const [, date, time, privUser, clientUser, , ip, level, codeText, rest] = h;
  const code = Number(codeText);
  const known = refusalPatterns[code];
  if (level !== 'ERROR' || known === undefined) return { type: 'other-error', code };
  const m = known.pattern.exec(rest!);
  if (!m)
    throw new SqlErrorLineError(
      `error ${code} with a message not of the form MariaDB 10.11 writes: "${rest!.slice(0, 120)}"`,
    );
  const base = { time: `${date} ${time!.trim().padStart(8, '0')}`, code, kind: known.kind, ip: ip! };
  const firstLine = (q: string | undefined) => (q ?? '').split('\n', 1)[0]!;
  let refusal: MariadbRefusal;
  switch (code) {
    case 1142:
    case 1370:
      refusal = {
        ...base,
        operation: m[1]!.toUpperCase(),
        user: m[2]!,
        host: m[3]!,
        object: m[4]!,
        query: firstLine(m[5]),
      };
      break;
    case 1143:
      refusal = {
        ...base,
        operation: m[1]!.toUpperCase(),
        user: m[2]!,
        host: m[3]!,
        object: `${m[5]}.${m[4]}`,
        query: firstLine(m[6]),
      };
      break;
    case 1044:
      refusal = { ...base, operation: 'use', user: m[1]!, host: m[2]!, object: m[3]!, query: firstLine(m[4]) };
      break;
    case 1045:
    case 1698:
      refusal = { ...base, operation: 'connect', user: m[1]!, host: m[2]!, object: '', query: '' };
      break;
    default:
      // 1227 names no account: the one the session logged in as.
      refusal = {
        ...base,
        operation: 'privilege',
        user: privUser || clientUser!,
        host: '',
        object: m[1]!,
        query: firstLine(m[2]),
      };
  }
  if (refusal.query === '(null)') refusal.query = '';
  return { type: 'refusal', refusal };
}
