import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extractFeatures, FEATURE_NAMES, type FeaturePacket, type FeatureSession } from './features.ts';
import { LOGIN_FEATURE_NAMES, type LoginFeatureName } from './logins.ts';

const T0 = 1_700_000_000_000_000;
let t = 0;

function data(direction: number, payload: string): FeaturePacket {
  const bytes = new Uint8Array(Buffer.from(payload, 'latin1'));
  t += 1000;
  return {
    direction,
    tsUs: T0 + t,
    wireLength: 54 + bytes.length,
    payloadLength: bytes.length,
    tcpFlags: 0x18,
    payload: bytes,
  };
}

function logins(serverPort: number, exchange: Array<[number, string]>): Record<LoginFeatureName, number> {
  t = 0;
  const session: FeatureSession = {
    proto: 'tcp',
    clientPort: 50000,
    serverPort,
    packets: exchange.map(([d, p]) => data(d, p)),
  };
  const v = extractFeatures(session);
  return Object.fromEntries(LOGIN_FEATURE_NAMES.map((n) => [n, v[FEATURE_NAMES.indexOf(n)]!])) as Record<
    LoginFeatureName,
    number
  >;
}

const C = 0;
const S = 1;

describe('login features', () => {
  it('are the last columns of the vector (version 4 appended them)', () => {
    assert.deepEqual(FEATURE_NAMES.slice(-LOGIN_FEATURE_NAMES.length), [...LOGIN_FEATURE_NAMES]);
  });

  it('pair FTP passwords with 530 replies; USER is no attempt', () => {
    const v = logins(21, [
      [S, '220 ready\r\n'],
      [C, 'USER admin\r\n'],
      [S, '331 Password required\r\n'],
      [C, 'PASS one\r\n'],
      [S, '530 Login incorrect.\r\n'],
      [C, 'USER admin\r\n'],
      [S, '331 Password required\r\n'],
      [C, 'PASS two\r\n'],
      [S, '530 Login incorrect.\r\n'],
    ]);
    assert.deepEqual(v, { login_attempts: 2, login_failures: 2, login_successes: 0, login_failure_share: 1 });
  });

  it('count a successful login once, and a reply with no attempt waiting not at all', () => {
    assert.deepEqual(
      logins(21, [
        [S, '530 Please login with USER and PASS.\r\n'],
        [C, 'USER ann\r\n'],
        [S, '331 Password required\r\n'],
        [C, 'PASS right\r\n'],
        [S, '230 Login successful.\r\n'],
      ]),
      { login_attempts: 1, login_failures: 0, login_successes: 1, login_failure_share: 0 },
    );
    // AUTH could be SMTP, POP3 or Redis: one attempt, answered once.
    assert.deepEqual(
      logins(6379, [
        [C, '*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n'],
        [S, '+OK\r\n'],
        [S, '+OK\r\n'],
      ]),
      { login_attempts: 1, login_failures: 0, login_successes: 1, login_failure_share: 0 },
    );
  });

  it('read IMAP AUTHENTICATE answered by a tagged NO', () => {
    const v = logins(143, [
      [S, '* OK [CAPABILITY IMAP4rev1] ready\r\n'],
      [C, '1 CAPABILITY\r\n'],
      [S, '* CAPABILITY IMAP4rev1\r\n1 OK done\r\n'],
      [C, '2 AUTHENTICATE LOGIN\r\n'],
      [S, '+ VXNlcm5hbWU6\r\n'],
      [C, 'YWRtaW4=\r\n'],
      [S, '+ UGFzc3dvcmQ6\r\n'],
      [C, 'MTIzNDU2\r\n'],
      [S, '2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n'],
    ]);
    assert.deepEqual(v, { login_attempts: 1, login_failures: 1, login_successes: 0, login_failure_share: 1 });
  });

  it('read HTTP logins: Basic credentials answered 401, and a form whose page says the login failed', () => {
    assert.deepEqual(
      logins(8080, [
        [C, 'GET /admin/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46MTIz\r\n\r\n'],
        [S, 'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n'],
      ]),
      { login_attempts: 1, login_failures: 1, login_successes: 0, login_failure_share: 1 },
    );
    // The form's body in its own segment, the failure text in the page's second segment.
    assert.deepEqual(
      logins(5000, [
        [C, 'POST /app/login HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n'],
        [C, 'username=admin&password=123456'],
        [S, 'HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n'],
        [S, '<p>Invalid username or password.</p>'],
      ]),
      { login_attempts: 1, login_failures: 1, login_successes: 0, login_failure_share: 1 },
    );
    // A page fetched without credentials is no login, whatever it says.
    assert.deepEqual(
      logins(80, [
        [C, 'GET /help HTTP/1.1\r\nHost: x\r\n\r\n'],
        [S, 'HTTP/1.1 200 OK\r\n\r\nInvalid input is rejected.'],
      ]),
      { login_attempts: 0, login_failures: 0, login_successes: 0, login_failure_share: -1 },
    );
  });
});
