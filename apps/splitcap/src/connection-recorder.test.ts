// The connection record splitcap advances batch by batch: the same record as one pass over all the packets (what
// `fleetcap sessions` computes), whatever the batches; a straggler of a completed connection adds nothing; a packet
// that starts another connection on the flow ends the record.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '@fleetcap/lib/packet/decode';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { ConnRecord } from '@fleetcap/lib/session-record/conn-state';
import type { RecordRead } from '@fleetcap/lib/session-store/record-store';
import { decodeBatch } from './batch-decoder.ts';
import { advanceRecord } from './connection-recorder.ts';

const client = { address: '10.0.0.9', port: 51000 };
const server = { address: '10.0.0.2', port: 22 };

interface Step {
  fromClient: boolean;
  flags: number;
  payload: number;
  seq: number;
  ack: number;
  atUs: number;
}

/** A whole TCP connection: handshake, data both ways, FIN both ways and the last ACK. */
function connection(dataPackets: number, startUs = 1_700_000_000_000_000): Step[] {
  const steps: Step[] = [];
  let c = 1000;
  let s = 5000;
  let t = startUs;
  const push = (fromClient: boolean, flags: number, payload: number) => {
    t += 1000;
    steps.push({ fromClient, flags, payload, seq: fromClient ? c : s, ack: fromClient ? s : c, atUs: t });
    const advance = payload + (flags & (TCP_SYN | TCP_FIN) ? 1 : 0);
    if (fromClient) c += advance;
    else s += advance;
  };
  push(true, TCP_SYN, 0);
  steps[0]!.ack = 0;
  push(false, TCP_SYN | TCP_ACK, 0);
  push(true, TCP_ACK, 0);
  for (let i = 0; i < dataPackets; i++) push(i % 3 === 0, TCP_ACK | TCP_PSH, 100 + i);
  push(true, TCP_FIN | TCP_ACK, 0);
  push(false, TCP_FIN | TCP_ACK, 0);
  push(true, TCP_ACK, 0);
  return steps;
}

function pcap(steps: Step[]): Buffer {
  const w = new PcapWriter({ linktype: 1 });
  for (const p of steps) {
    const [src, dst] = p.fromClient ? [client, server] : [server, client];
    const data = buildPacket({
      proto: 'tcp',
      src: src.address,
      sport: src.port,
      dst: dst.address,
      dport: dst.port,
      tcpFlags: p.flags,
      tcpSeq: p.seq,
      tcpAck: p.ack,
      payload: Buffer.alloc(p.payload),
    });
    w.write({ tsSec: Math.floor(p.atUs / 1e6), tsNsec: (p.atUs % 1e6) * 1000, data });
  }
  return w.toBuffer();
}

function only<T>(m: Map<string, T>): T {
  assert.equal(m.size, 1);
  return [...m.values()][0]!;
}

/** Advances a record over the batches as splitcap does, storing what each batch wrote. */
function advanceOver(batches: Buffer[]): ConnRecord {
  let read: RecordRead = { record: undefined, done: false };
  let version = 0;
  for (const b of batches) {
    const advanced = advanceRecord(only(decodeBatch(b).sessions), read);
    const w = advanced.write!;
    version++;
    read = {
      done: false,
      record: {
        version,
        record: w.record,
        occurrence: w.mode === 'start' ? w.occurrence : read.record!.occurrence,
        initiator: w.mode === 'start' ? w.initiator : read.record!.initiator,
        communityId: '',
        seenMs: 0,
        ended: w.ended,
        completing: false,
      },
    };
  }
  return ConnRecord.deserialize(read.record!.record);
}

describe('the connection record across batches', () => {
  test('batches of any size give the record of one pass over the connection', () => {
    const steps = connection(40);
    const whole = advanceOver([pcap(steps)]);
    assert.equal(whole.connState, 'SF');
    assert.equal(whole.history, 'ShADdFf');
    assert.equal(whole.origPkts + whole.respPkts, steps.length);
    for (const size of [1, 5, 24, 25]) {
      const batches: Buffer[] = [];
      for (let i = 0; i < steps.length; i += size) batches.push(pcap(steps.slice(i, i + size)));
      const split = advanceOver(batches);
      assert.deepEqual(
        [
          split.connState,
          split.history,
          split.origPkts,
          split.respPkts,
          split.origIpBytes,
          split.respIpBytes,
          split.duration,
        ],
        [
          whole.connState,
          whole.history,
          whole.origPkts,
          whole.respPkts,
          whole.origIpBytes,
          whole.respIpBytes,
          whole.duration,
        ],
        `batches of ${size}`,
      );
    }
  });

  test('a straggler of a completed connection, or a record being completed, adds nothing (and counts what it leaves out)', () => {
    const s = only(decodeBatch(pcap(connection(1))).sessions);
    assert.deepEqual(advanceRecord(s, { record: undefined, done: true }), {
      outcome: 'straggler',
      added: 0,
      leftOut: s.packets,
    });
    const first = advanceRecord(s, { record: undefined, done: false }).write!;
    const stored = {
      version: 3,
      record: first.record,
      occurrence: 1,
      initiator: 0 as const,
      communityId: '',
      seenMs: 0,
      ended: false,
      completing: true,
    };
    assert.equal(advanceRecord(s, { record: stored, done: true }).outcome, 'straggler');
    assert.equal(
      advanceRecord(s, { record: { ...stored, completing: false, ended: true }, done: true }).outcome,
      'straggler',
    );
    // The append stored nothing (the session was done) and no record is open: nothing to start a record for.
    assert.equal(advanceRecord(s, { record: undefined, done: false }, 0).outcome, 'straggler');
    // The batch goes to the occurrence its append stored it in, whichever of its packets came first.
    const resumed = advanceRecord(s, { record: undefined, done: false }, 42).write!;
    assert.equal(resumed.mode === 'start' && resumed.occurrence, 42);
    const update = advanceRecord(s, { record: { ...stored, completing: false }, done: false }, 42).write!;
    assert.equal(update.mode === 'update' && update.occurrence, 42);
  });

  test('a new SYN after the close starts another connection: the record ends and keeps the first one', () => {
    const firstConn = connection(2);
    const again = connection(2, firstConn.at(-1)!.atUs + 1000).map((p) => ({
      ...p,
      seq: p.seq + 77_777,
      ack: p.ack ? p.ack + 77_777 : 0,
    }));
    const advanced = advanceRecord(only(decodeBatch(pcap([...firstConn, ...again])).sessions), {
      record: undefined,
      done: false,
    });
    assert.equal(advanced.write?.ended, true);
    assert.equal(advanced.added, firstConn.length);
    // What it leaves out is left out because the record ended (counted as new-connection when not in a verdict).
    assert.equal(advanced.endedLeftOut, again.length);
    const ended = {
      version: 1,
      record: advanced.write!.record,
      occurrence: 1,
      initiator: 0 as const,
      communityId: '',
      seenMs: 0,
      ended: true,
      completing: false,
    };
    const later = only(decodeBatch(pcap(again)).sessions);
    assert.equal(advanceRecord(later, { record: ended, done: false }, 0).endedLeftOut, again.length);
    // A record being completed refuses them as stragglers of the completed connection.
    assert.equal(
      advanceRecord(later, { record: { ...ended, completing: true }, done: false }, 0).endedLeftOut,
      undefined,
    );
    const record = ConnRecord.deserialize(advanced.write!.record);
    assert.equal(record.origPkts + record.respPkts, firstConn.length);
  });

  test('a batch stored after the next one (a retry) adds its packets: its SYN is not a new connection', () => {
    const steps = connection(4);
    const handshake = steps.slice(0, 3);
    const rest = steps.slice(3);
    const reordered = advanceOver([pcap(rest), pcap(handshake)]);
    assert.equal(reordered.origPkts + reordered.respPkts, steps.length);
  });
});
