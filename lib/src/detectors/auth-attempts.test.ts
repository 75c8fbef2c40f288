import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AuthPacket, authAttempts, credentialFingerprints, MAX_ATTEMPTS_PER_SESSION } from './auth-attempts.ts';

const text = (direction: number, s: string): AuthPacket => {
  const payload = Buffer.from(s, 'latin1');
  return { direction, payloadLength: payload.length, tcpFlags: 0x18, payload };
};

describe('authAttempts', () => {
  it('counts the failed logins of an FTP session on any port', () => {
    const packets = [text(1, '220 ProFTPD ready\r\n')];
    for (let i = 0; i < 3; i++) {
      packets.push(text(0, 'USER admin\r\n'), text(1, '331 Password required\r\n'));
      packets.push(text(0, `PASS guess${i}\r\n`), text(1, '530 Login incorrect.\r\n'));
    }
    assert.equal(authAttempts('tcp', 40000, 2121, packets), 3);
  });

  it('counts a login that succeeded at once as no attempt', () => {
    const packets = [
      text(1, '220 ready\r\n'),
      text(0, 'USER alice\r\n'),
      text(1, '331 Password required\r\n'),
      text(0, 'PASS right\r\n'),
      text(1, '230 User logged in\r\n'),
    ];
    assert.equal(authAttempts('tcp', 40000, 21, packets), 0);
  });

  it('caps the attempts of one session', () => {
    const packets = [text(1, '220 ready\r\n')];
    for (let i = 0; i < 20; i++) packets.push(text(0, `PASS p${i}\r\n`), text(1, '530 Login incorrect.\r\n'));
    assert.equal(authAttempts('tcp', 40000, 21, packets), MAX_ATTEMPTS_PER_SESSION);
  });

  it('counts failed logins past the kept packets at the rate the kept ones show, unless a login succeeded', () => {
    // 24 kept packets with 2 failures; the session went on to 36 packets: 12 more at 2 per 24 is 1 more attempt.
    const kept = [text(1, '220 ready\r\n')];
    for (let i = 0; i < 2; i++) {
      kept.push(text(0, 'USER admin\r\n'), text(1, '331 Password required\r\n'));
      kept.push(text(0, `PASS guess${i}\r\n`), text(1, '530 Login incorrect.\r\n'));
    }
    while (kept.length < 24) kept.push({ direction: 0, payloadLength: 0, tcpFlags: 0x10 });
    assert.equal(authAttempts('tcp', 40000, 2121, kept), 2, 'without the packets seen, what the kept ones show');
    assert.equal(authAttempts('tcp', 40000, 2121, kept, 36), 3);
    assert.equal(authAttempts('tcp', 40000, 2121, kept, 240), MAX_ATTEMPTS_PER_SESSION, 'still capped');
    const succeeded = [...kept.slice(0, 20), text(0, 'PASS right\r\n'), text(1, '230 User logged in\r\n')];
    assert.equal(authAttempts('tcp', 40000, 21, succeeded, 400), 2, 'a user who got in: the rest is their work');
    const ssh = [text(1, 'SSH-2.0-OpenSSH_9.2\r\n'), text(0, 'SSH-2.0-libssh_0.10\r\n')];
    assert.equal(authAttempts('tcp', 40000, 2222, ssh, 400), 1, 'not for SSH, whose success is encrypted too');
  });

  it('takes an SSH session (by its banner, on port 2222) as one attempt at least', () => {
    const packets = [text(1, 'SSH-2.0-OpenSSH_9.2\r\n'), text(0, 'SSH-2.0-libssh_0.10\r\n')];
    assert.equal(authAttempts('tcp', 40000, 2222, packets), 1);
  });

  it('counts refused HTTP logins, and login posts answered 200 without SQL in the session or a redirect', () => {
    const post = (password: string) =>
      text(0, `POST /app/login HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\nusername=a&password=${password}`);
    const ok = text(1, 'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nInvalid');
    assert.equal(authAttempts('tcp', 40000, 5000, [post('letmein1'), ok]), 1, "hydra's http-post-form");
    assert.equal(
      authAttempts('tcp', 40000, 5000, [post('letmein1'), text(1, 'HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n')]),
      0,
      'a login that worked redirects',
    );
    assert.equal(
      authAttempts('tcp', 40000, 5000, [post("x' OR '1'='1"), ok, post('plain'), ok]),
      0,
      'sqlmap posts to login forms too, with SQL in the same connection',
    );
    const basic = text(0, 'GET /admin/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YTpi\r\n\r\n');
    assert.equal(
      authAttempts('tcp', 40000, 8080, [basic, text(1, 'HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n')]),
      1,
    );
    assert.equal(authAttempts('tcp', 40000, 8080, [basic, ok]), 0, 'a user signed in with Basic auth browses');
  });

  it('finds none in a page fetch or a UDP session', () => {
    assert.equal(authAttempts('tcp', 40000, 80, [text(0, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')]), 0);
    assert.equal(authAttempts('udp', 40000, 53, [text(0, 'USER x\r\n')]), 0);
  });
});

describe('credentialFingerprints', () => {
  const resp = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`;
  const wrongpass = text(1, '-WRONGPASS invalid username-password pair or user is disabled.\r\n');

  it('fingerprints the refused credentials of Redis, FTP, IMAP, SMTP, HTTP Basic and login forms', () => {
    const redis = credentialFingerprints([text(0, resp('AUTH', 'sunshine0')), wrongpass]);
    assert.equal(redis.length, 1);
    assert.match(redis[0]!, /^[0-9a-f]{4}$/);
    assert.notDeepEqual(credentialFingerprints([text(0, resp('AUTH', '123456789')), wrongpass]), redis);
    assert.deepEqual(
      credentialFingerprints([text(0, resp('AUTH', 'sunshine0')), wrongpass]),
      redis,
      'the same in every session',
    );
    const refused = text(1, '530 Login incorrect.\r\n');
    const ftp = credentialFingerprints([
      text(1, '220 ready\r\n'),
      text(0, 'USER admin\r\n'),
      text(1, '331 Password required\r\n'),
      text(0, 'PASS one\r\n'),
      refused,
      text(0, 'USER admin\r\n'),
      text(1, '331 Password required\r\n'),
      text(0, 'PASS two\r\n'),
      refused,
      text(0, 'USER root\r\n'),
      text(1, '331 Password required\r\n'),
      text(0, 'PASS one\r\n'),
      refused,
    ]);
    assert.equal(new Set(ftp).size, 3, 'a user and a password make a credential');
    assert.equal(
      credentialFingerprints([text(0, 'a1 LOGIN bob secret\r\n'), text(1, 'a1 NO [AUTHENTICATIONFAILED]\r\n')]).length,
      1,
    );
    assert.equal(
      credentialFingerprints([text(0, 'AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n'), text(1, '535 5.7.8 failed\r\n')]).length,
      1,
    );
    const basic = text(0, 'GET / HTTP/1.1\r\nAuthorization: Basic Ym9iOnM=\r\n\r\n');
    assert.equal(credentialFingerprints([basic, text(1, 'HTTP/1.1 401 Unauthorized\r\n\r\n')]).length, 1);
    const form = (pw: string, token: string) =>
      text(0, `POST /login HTTP/1.1\r\nHost: x\r\n\r\nusername=bob&password=${pw}&csrf=${token}`);
    const forbidden = text(1, 'HTTP/1.1 403 Forbidden\r\n\r\n');
    assert.deepEqual(
      credentialFingerprints([form('a', 't1'), forbidden]),
      credentialFingerprints([form('a', 't2'), forbidden]),
      'a form is its user and password fields, not its other fields',
    );
    assert.notDeepEqual(
      credentialFingerprints([form('a', 't1'), forbidden]),
      credentialFingerprints([form('b', 't1'), forbidden]),
    );
  });

  it('shows none for accepted logins (a webmail server logging its users in), other commands and encrypted logins', () => {
    assert.deepEqual(credentialFingerprints([text(0, resp('AUTH', 'right')), text(1, '+OK\r\n')]), []);
    const webmail = [];
    for (let i = 0; i < 10; i++)
      webmail.push(text(0, `a${i} LOGIN user${i} pw${i}\r\n`), text(1, `a${i} OK LOGIN completed\r\n`));
    assert.deepEqual(credentialFingerprints(webmail), []);
    assert.deepEqual(credentialFingerprints([text(1, resp('AUTH', 'x')), text(0, resp('GET', 'key')), wrongpass]), []);
    assert.deepEqual(credentialFingerprints([text(0, 'SSH-2.0-OpenSSH_9.2\r\n'), text(1, 'SSH-2.0-x\r\n')]), []);
    assert.deepEqual(
      credentialFingerprints([text(0, 'GET /index.html HTTP/1.1\r\n\r\n'), text(1, 'HTTP/1.1 403 Forbidden\r\n')]),
      [],
    );
  });

  it('lists each credential once, at most MAX_ATTEMPTS_PER_SESSION', () => {
    const refused = text(1, '-ERR invalid password\r\n');
    const packets = Array.from({ length: 10 }, (_, i) => [text(0, `PASS p${i % 8}\r\n`), refused]).flat();
    assert.equal(credentialFingerprints(packets).length, MAX_ATTEMPTS_PER_SESSION);
    assert.equal(
      credentialFingerprints([text(0, 'PASS same\r\n'), refused, text(0, 'PASS same\r\n'), refused]).length,
      1,
    );
  });
});
