import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeSessionMessage,
  encodeScheduleMessages,
  encodeSessionMessage,
  type SessionMessage,
  SessionMessageError,
  splitScheduleMessage,
} from './session-message.ts';

const message: SessionMessage = {
  key: 'tcp/10.0.0.1/443/10.0.0.2/51000',
  agent: 'host-1',
  communityId: '1:wCb3OG7yAFWelaUydu0D+125CLM=',
  reason: 'closed',
  occurrence: 1732451234567890,
  enqueuedAt: 1732451234999,
};
const body = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('the session message', () => {
  test('names the session by agent and key, and carries the Community ID', () => {
    assert.deepEqual(decodeSessionMessage(encodeSessionMessage(message)), message);
  });

  test('a message of a splitcap from before agent-scoped sessions is refused with what happened', () => {
    const { communityId: _, ...legacy } = message;
    assert.throws(
      () => decodeSessionMessage(body(legacy)),
      (err: Error) =>
        err instanceof SessionMessageError &&
        /^message of a splitcap from before agent-scoped sessions \(no communityId\): its session is in the old Redis layout, which this worker does not read$/.test(
          err.message,
        ),
    );
  });

  test('anything else wrong is named field by field', () => {
    const { communityId: _, ...legacy } = message;
    assert.throws(
      () => decodeSessionMessage(body({ ...legacy, reason: 'soon' })),
      /message is not a session message: reason: Invalid enum value.*; communityId: Required/,
    );
    assert.throws(
      () => decodeSessionMessage(body({ ...message, agent: 'a/b' })),
      /message is not a session message: agent: must be an agent id/,
    );
    assert.throws(() => decodeSessionMessage(Buffer.from('{"key"')), /message body is not JSON/);
    assert.throws(() => decodeSessionMessage(body([1])), /message is not a session message: \(root\)/);
  });
});

describe('the schedule message of a batch’s sessions', () => {
  const sessions: SessionMessage[] = [
    message,
    { ...message, key: 'udp/10.0.0.3/53/10.0.0.4/40000', reason: 'delay', occurrence: 1732451234567999 },
  ];

  test('splits back into each session’s own message, in order', () => {
    const parts = splitScheduleMessage(encodeScheduleMessages(sessions));
    assert.ok(parts);
    assert.deepEqual(
      parts.map((p) => decodeSessionMessage(p)),
      sessions,
    );
  });

  test('a message of one session (a splitcap of before) is not split', () => {
    assert.equal(splitScheduleMessage(encodeSessionMessage(message)), undefined);
    assert.equal(splitScheduleMessage(Buffer.from('not json')), undefined);
    assert.equal(splitScheduleMessage(body({ sessions: [] })), undefined, 'no sessions: dead-lettered by its decode');
  });

  test('a session entry that is not one becomes a part whose decode says what is wrong', () => {
    const parts = splitScheduleMessage(
      body({ agent: 'host-1', enqueuedAt: 1, sessions: [['tcp/10.0.0.1/1/10.0.0.2/2', 'delay', 5, 'c'], 'x'] }),
    );
    assert.ok(parts);
    assert.equal(decodeSessionMessage(parts[0]!).occurrence, 5);
    assert.throws(() => decodeSessionMessage(parts[1]!), SessionMessageError);
  });

  test('holds one agent’s sessions of one batch only', () => {
    assert.throws(() => encodeScheduleMessages([message, { ...message, agent: 'host-2' }]), /one agent/);
    assert.throws(() => encodeScheduleMessages([]), /at least one/);
  });
});
