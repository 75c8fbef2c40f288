import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AuthPacket, authAttempts, MAX_ATTEMPTS_PER_SESSION } from './auth-attempts.ts';

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

  it('takes an SSH session (by its banner, on port 2222) as one attempt at least', () => {
    const packets = [text(1, 'SSH-2.0-OpenSSH_9.2\r\n'), text(0, 'SSH-2.0-libssh_0.10\r\n')];
    assert.equal(authAttempts('tcp', 40000, 2222, packets), 1);
  });

  it('counts refused HTTP logins, not login posts (an injection into the form sends those too)', () => {
    const post = text(
      0,
      'POST /app/login HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\nusername=a&password=letmein1',
    );
    assert.equal(authAttempts('tcp', 40000, 80, [post, text(1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')]), 0);
    const basic = text(0, 'GET /admin/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YTpi\r\n\r\n');
    assert.equal(
      authAttempts('tcp', 40000, 8080, [basic, text(1, 'HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n')]),
      1,
    );
  });

  it('finds none in a page fetch or a UDP session', () => {
    assert.equal(authAttempts('tcp', 40000, 80, [text(0, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')]), 0);
    assert.equal(authAttempts('udp', 40000, 53, [text(0, 'USER x\r\n')]), 0);
  });
});
