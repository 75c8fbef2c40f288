import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientHelloMessage, handshakeRecords, tcpSession } from './build-messages.ts';
import { appMetadataOf } from './detect.ts';

const serviceOf = (specs: Parameters<typeof tcpSession>[0], port = 9999) =>
  appMetadataOf(tcpSession(specs, { responderPort: port })).service;

describe('services recognised from their greeting or first command', () => {
  it('tells SMTP from FTP by the client command, else by the greeting', () => {
    assert.equal(
      serviceOf([
        { direction: 1, bytes: '220 mail.example ESMTP\r\n' },
        { direction: 0, bytes: 'EHLO me\r\n' },
      ]),
      'smtp',
    );
    assert.equal(
      serviceOf([
        { direction: 1, bytes: '220 ready\r\n' },
        { direction: 0, bytes: 'USER anonymous\r\n' },
      ]),
      'ftp',
    );
    assert.equal(serviceOf([{ direction: 1, bytes: '220 (vsFTPd 3.0.5)\r\n' }]), 'ftp');
    assert.equal(serviceOf([{ direction: 1, bytes: '220 hello\r\n' }]), undefined, 'a bare 220 names nothing');
  });

  it('recognises POP3 and IMAP greetings, only when the server speaks first', () => {
    assert.equal(
      serviceOf([
        { direction: 1, bytes: '+OK POP3 ready\r\n' },
        { direction: 0, bytes: 'CAPA\r\n' },
      ]),
      'pop3',
    );
    assert.equal(serviceOf([{ direction: 1, bytes: '* OK [CAPABILITY IMAP4rev1] ready\r\n' }]), 'imap');
    assert.equal(
      serviceOf([
        { direction: 0, bytes: 'PING\r\n' },
        { direction: 1, bytes: '+OK\r\n' },
      ]),
      'redis',
      'a "+OK" that answers a command is no POP3 greeting: an inline Redis command',
    );
  });

  it('recognises MySQL, PostgreSQL and Redis by their binary openings', () => {
    const version = Buffer.from('8.0.36\0', 'latin1');
    const body = Buffer.concat([Buffer.from([10]), version, Buffer.alloc(40, 1)]);
    const greeting = Buffer.concat([Buffer.from([body.length, 0, 0, 0]), body]);
    assert.equal(serviceOf([{ direction: 1, bytes: greeting }], 3307), 'mysql');
    const startup = Buffer.concat([Buffer.from([0, 0, 0, 0x17, 0, 3, 0, 0]), Buffer.from('user\0bob\0\0', 'latin1')]);
    startup.writeUInt32BE(startup.length, 0);
    assert.equal(serviceOf([{ direction: 0, bytes: startup }]), 'postgresql');
    assert.equal(serviceOf([{ direction: 0, bytes: Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]) }]), 'postgresql');
    assert.equal(
      serviceOf([
        { direction: 0, bytes: '*1\r\n$4\r\nPING\r\n' },
        { direction: 1, bytes: '+PONG\r\n' },
      ]),
      'redis',
    );
    assert.equal(
      serviceOf([
        { direction: 0, bytes: 'SET k v\r\nGET k\r\n' },
        { direction: 1, bytes: '+OK\r\n$1\r\nv\r\n' },
      ]),
      'redis',
    );
  });

  it('takes FTP when a slow server greets after the client spoke', () => {
    assert.equal(
      serviceOf([
        { direction: 0, bytes: 'USER anonymous\r\n' },
        { direction: 1, bytes: '220 hi\r\n331 pw\r\n' },
      ]),
      'ftp',
    );
  });

  it('reads TLS after a MySQL SSL request and names both services', () => {
    const version = Buffer.from('8.0.36\0', 'latin1');
    const body = Buffer.concat([Buffer.from([10]), version, Buffer.alloc(40, 1)]);
    const greeting = Buffer.concat([Buffer.from([body.length, 0, 0, 0]), body]);
    const sslRequest = Buffer.concat([Buffer.from([32, 0, 0, 1]), Buffer.alloc(32, 0)]);
    const hello = handshakeRecords(
      clientHelloMessage({ ciphers: [0x1301], extensions: [{ type: 'sni', name: 'db' }] }),
    );
    const m = appMetadataOf(
      tcpSession(
        [
          { direction: 1, bytes: greeting },
          { direction: 0, bytes: Buffer.concat([sslRequest, hello]) },
        ],
        { responderPort: 3306 },
      ),
    );
    assert.equal(m.service, 'mysql,ssl');
    assert.equal(m.tls?.sni, 'db');
  });
});
