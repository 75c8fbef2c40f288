import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestError, RequestValidator } from './validate.ts';

const packet = { direction: 0, tsUs: 1_700_000_000_000_000, wireLength: 74, payloadLength: 0, tcpFlags: 2 };
const session = {
  proto: 'tcp',
  clientPort: 40000,
  serverPort: 443,
  packets: [packet, { ...packet, direction: 1, tcpFlags: 18 }],
};
const validator = new RequestValidator({ maxSessions: 4, maxPacketsPerSession: 3 });

function errorOf(body: unknown): RequestError {
  try {
    validator.sessions(body);
  } catch (err) {
    assert.ok(err instanceof RequestError, `expected a RequestError, got ${err}`);
    return err;
  }
  assert.fail('the body was accepted');
}

function withSession(i: number, patch: Record<string, unknown>) {
  const sessions = [session, session, session].map((s) => ({ ...s }));
  sessions[i] = { ...sessions[i]!, ...patch };
  return { sessions };
}

function withPacket(k: number, patch: Record<string, unknown>) {
  const packets = [packet, packet, packet].map((p) => ({ ...p }));
  packets[k] = { ...packets[k]!, ...patch };
  return withSession(1, { packets });
}

describe('forecast request validation', () => {
  it('accepts well-formed sessions and keeps only the known fields', () => {
    const out = validator.sessions({ sessions: [{ ...session, extra: 'x', packets: [{ ...packet, seq: 7 }] }] });
    assert.deepEqual(out, [{ proto: 'tcp', clientPort: 40000, serverPort: 443, packets: [packet] }]);
  });

  it("decodes a packet's base64 payload (the content features' input) and refuses a bad one", () => {
    const withPayload = {
      ...packet,
      payloadLength: 5,
      wireLength: 79,
      payload: Buffer.from('USER ').toString('base64'),
    };
    const [s] = validator.sessions({ sessions: [{ ...session, packets: [withPayload] }] });
    assert.deepEqual(Buffer.from(s!.packets[0]!.payload!).toString('latin1'), 'USER ');
    assert.equal(
      errorOf(withPacket(0, { payloadLength: 2, wireLength: 60, payload: 'QUJD' })).message,
      'sessions[1].packets[0].payload: holds 3 bytes, more than the payload length 2',
    );
    assert.match(
      errorOf(withPacket(0, { payloadLength: 2, wireLength: 60, payload: 'not base64!' })).message,
      /^sessions\[1\]\.packets\[0\]\.payload: must be the payload's bytes in base64/,
    );
  });

  it('names the body-level problem', () => {
    assert.equal(errorOf([]).message, '(body): the body must be a JSON object {"sessions": [...]}');
    assert.equal(errorOf({}).message, 'sessions: required: an array of sessions');
    assert.equal(errorOf({ sessions: [] }).message, 'sessions: must hold at least one session');
    assert.match(
      errorOf({ sessions: [session, session, session, session, session] }).message,
      /^sessions: must hold at most 4 sessions/,
    );
  });

  it('names the session index and the field', () => {
    const e = errorOf(withSession(2, { proto: 'icmp' }));
    assert.equal(e.message, 'sessions[2].proto: must be "tcp" or "udp", got "icmp"');
    assert.equal(e.session, 2);
    assert.equal(e.path, 'sessions[2].proto');
    assert.equal(errorOf(withSession(1, { serverPort: 70000 })).message, 'sessions[1].serverPort: must be 0-65535');
    assert.equal(errorOf(withSession(1, { clientPort: 1.5 })).message, 'sessions[1].clientPort: must be an integer');
    assert.equal(
      errorOf(withSession(0, { clientPort: undefined })).message,
      'sessions[0].clientPort: required: a port number 0-65535',
    );
    assert.equal(
      errorOf(withSession(0, { packets: [] })).message,
      'sessions[0].packets: must hold at least one packet',
    );
    assert.equal(
      errorOf(withSession(0, { packets: [packet, packet, packet, packet] })).message,
      'sessions[0].packets: must hold at most 3 packets',
    );
    assert.equal(errorOf(withSession(0, { packets: 'x' })).message, 'sessions[0].packets: must be an array of packets');
    assert.match(errorOf({ sessions: [session, 5] }).message, /^sessions\[1\]: must be a session object/);
  });

  it('names the packet index and the field', () => {
    assert.equal(
      errorOf(withPacket(2, { direction: 2 })).message,
      'sessions[1].packets[2].direction: must be 0 (from the client) or 1 (from the server), got 2',
    );
    assert.equal(
      errorOf(withPacket(0, { tsUs: -1 })).message,
      'sessions[1].packets[0].tsUs: must be a non-negative integer (capture time in µs), got -1',
    );
    assert.equal(
      errorOf(withPacket(0, { tsUs: '5' })).message,
      'sessions[1].packets[0].tsUs: must be a non-negative integer (capture time in µs), got "5"',
    );
    assert.equal(
      errorOf(withPacket(1, { wireLength: undefined })).message,
      'sessions[1].packets[1].wireLength: must be a non-negative integer, got nothing',
    );
    assert.equal(
      errorOf(withPacket(1, { payloadLength: 100 })).message,
      'sessions[1].packets[1].payloadLength: 100 is more than the wire length 74',
    );
    assert.equal(
      errorOf(withPacket(1, { tcpFlags: 256 })).message,
      'sessions[1].packets[1].tcpFlags: must be an integer 0-255, got 256',
    );
    assert.match(
      errorOf(withSession(0, { packets: [null] })).message,
      /^sessions\[0\]\.packets\[0\]: must be a packet object/,
    );
    const udp = errorOf(withSession(3 - 1, { proto: 'udp' }));
    assert.equal(udp.message, 'sessions[2].packets[0].tcpFlags: must be 0 in a UDP session, got 2');
    assert.equal(udp.session, 2);
  });
});
