import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sshKexInitPacket, tcpSession } from './build-messages.ts';
import { appMetadataOf } from './detect.ts';

// HASSH's published example (salesforce/hassh README): the Cyberduck 6.7.1 client's algorithm lists and its hassh.
const CYBERDUCK = {
  kex: 'curve25519-sha256@libssh.org,diffie-hellman-group-exchange-sha256,ecdh-sha2-nistp521,ecdh-sha2-nistp384,ecdh-sha2-nistp256,diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,diffie-hellman-group14-sha256,diffie-hellman-group15-sha512,diffie-hellman-group16-sha512,diffie-hellman-group17-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256@ssh.com,diffie-hellman-group15-sha256,diffie-hellman-group15-sha256@ssh.com,diffie-hellman-group15-sha384@ssh.com,diffie-hellman-group16-sha256,diffie-hellman-group16-sha384@ssh.com,diffie-hellman-group16-sha512@ssh.com,diffie-hellman-group18-sha512@ssh.com',
  enc: 'aes128-cbc,aes128-ctr,aes192-cbc,aes192-ctr,aes256-cbc,aes256-ctr,blowfish-cbc,blowfish-ctr,cast128-cbc,cast128-ctr,idea-cbc,idea-ctr,serpent128-cbc,serpent128-ctr,serpent192-cbc,serpent192-ctr,serpent256-cbc,serpent256-ctr,3des-cbc,3des-ctr,twofish128-cbc,twofish128-ctr,twofish192-cbc,twofish192-ctr,twofish256-cbc,twofish256-ctr,twofish-cbc,arcfour,arcfour128,arcfour256',
  mac: 'hmac-sha1,hmac-sha1-96,hmac-md5,hmac-md5-96,hmac-sha2-256,hmac-sha2-512',
  compression: 'zlib@openssh.com,zlib,none',
  hassh: '8a8ae540028bf433cd68356c1b9e8d5b',
};

function kexInit(c2s: { enc: string; mac: string; compression: string }, kex: string, s2c = c2s) {
  return sshKexInitPacket([
    kex,
    'ssh-ed25519,rsa-sha2-512',
    c2s.enc,
    s2c.enc,
    c2s.mac,
    s2c.mac,
    c2s.compression,
    s2c.compression,
    '',
    '',
  ]);
}

function concat(...parts: Array<Uint8Array | string>): Uint8Array {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
}

describe('SSH', () => {
  it("gives the HASSH of Salesforce's published example and the identification strings, on port 2022", () => {
    const server = { enc: 'aes128-ctr', mac: 'hmac-sha2-256', compression: 'none' };
    const m = appMetadataOf(
      tcpSession(
        [
          { direction: 1, bytes: 'SSH-2.0-OpenSSH_9.6\r\n' },
          {
            direction: 0,
            bytes: concat('SSH-2.0-Cyberduck/6.7.1.28683\r\n', kexInit(CYBERDUCK, CYBERDUCK.kex)),
            segmentSize: 100,
          },
          {
            direction: 1,
            bytes: kexInit(server, 'curve25519-sha256', { enc: 'aes256-ctr', mac: 'hmac-sha1', compression: 'zlib' }),
          },
        ],
        { responderPort: 2022 },
      ),
    );
    assert.equal(m.service, 'ssh');
    assert.equal(m.ssh?.client, 'SSH-2.0-Cyberduck/6.7.1.28683');
    assert.equal(m.ssh?.server, 'SSH-2.0-OpenSSH_9.6');
    assert.equal(m.ssh?.hassh, CYBERDUCK.hassh);
    assert.equal(
      m.ssh?.hasshServerAlgorithms,
      'curve25519-sha256;aes256-ctr;hmac-sha1;zlib',
      'the server→client lists',
    );
    assert.match(m.ssh?.hasshServer ?? '', /^[0-9a-f]{32}$/);
    assert.deepEqual(m.problems, []);
  });

  it('skips the lines a server sends before its identification', () => {
    const m = appMetadataOf(
      tcpSession([
        { direction: 1, bytes: 'Welcome to the box\r\nauthorised users only\r\nSSH-2.0-dropbear_2022.83\r\n' },
        { direction: 0, bytes: 'SSH-2.0-PuTTY_Release_0.80\r\n' },
      ]),
    );
    assert.equal(m.ssh?.server, 'SSH-2.0-dropbear_2022.83');
    assert.equal(m.ssh?.client, 'SSH-2.0-PuTTY_Release_0.80');
  });

  it('reads no KEXINIT from an SSH 1 conversation', () => {
    const m = appMetadataOf(
      tcpSession([
        { direction: 1, bytes: concat('SSH-1.99-OpenSSH_6.6\n', Uint8Array.from([0, 0, 1, 4, 0, 0, 0, 0, 2])) },
        { direction: 0, bytes: concat('SSH-1.5-OpenSSH_6.2\n', Uint8Array.from([0, 0, 0, 9, 1, 2, 3])) },
      ]),
    );
    assert.equal(m.ssh?.client, 'SSH-1.5-OpenSSH_6.2');
    assert.equal(m.ssh?.hassh, undefined);
    assert.equal(m.ssh?.hasshServer, undefined);
    assert.deepEqual(m.problems, []);
  });

  it('reports a KEXINIT whose name-list lengths do not hold, and one cut by the store', () => {
    const packet = kexInit(CYBERDUCK, CYBERDUCK.kex);
    const broken = Uint8Array.from(packet);
    broken[6 + 16] = 0x7f; // first name-list length
    const m = appMetadataOf(tcpSession([{ direction: 0, bytes: concat('SSH-2.0-x\r\n', broken) }]));
    assert.deepEqual(m.problems, ['ssh.malformed_kexinit']);
    const cut = appMetadataOf(
      tcpSession([{ direction: 0, bytes: concat('SSH-2.0-x\r\n', packet.subarray(0, 100)) }], { morePackets: true }),
    );
    assert.deepEqual(cut.needsMorePackets, ['ssh.hassh', 'ssh.server'], 'the server had not spoken yet either');
    assert.deepEqual(cut.problems, []);
  });
});
