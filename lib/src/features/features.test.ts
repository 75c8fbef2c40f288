import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPacket } from '../packet/build.ts';
import { LINKTYPE_ETHERNET, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../packet/decode.ts';
import { CapturedPacket } from '../pcap/reader.ts';
import { Sessionizer } from '../session/sessionizer.ts';
import {
  extractFeatureBatch,
  extractFeatures,
  FEATURE_COUNT,
  FEATURE_NAMES,
  FEATURE_VERSION,
  FEATURE_WINDOW_US,
  type FeatureName,
  type FeaturePacket,
  type FeatureSession,
  featureIndex,
  featurePackets,
  SESSION_MAX_PACKETS,
} from './features.ts';
import { captureTimeUs, featureSessionOf } from './from-session.ts';

const T0 = 1_700_000_000_000_000;
const SA = TCP_SYN | TCP_ACK;
const PA = TCP_PSH | TCP_ACK;
const FA = TCP_FIN | TCP_ACK;

function pkt(
  direction: number,
  dtUs: number,
  wireLength: number,
  payloadLength: number,
  tcpFlags: number,
): FeaturePacket {
  return { direction, tsUs: T0 + dtUs, wireLength, payloadLength, tcpFlags };
}

function named(v: Float32Array, offset = 0): Record<FeatureName, number> {
  return Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, v[offset + i]!])) as Record<FeatureName, number>;
}

// A complete small HTTP exchange: handshake, request, response, close by the client.
const http: FeatureSession = {
  proto: 'tcp',
  clientPort: 51000,
  serverPort: 80,
  packets: [
    pkt(0, 0, 74, 0, TCP_SYN),
    pkt(1, 100, 74, 0, SA),
    pkt(0, 200, 66, 0, TCP_ACK),
    pkt(0, 1_200, 166, 100, PA),
    pkt(1, 2_200, 566, 500, PA),
    pkt(0, 3_200, 66, 0, FA),
    pkt(1, 4_200, 66, 0, FA),
    pkt(0, 5_200, 66, 0, TCP_ACK),
  ],
};

describe('features', () => {
  it('names are unique, versioned, and match the vector length', () => {
    assert.equal(new Set(FEATURE_NAMES).size, FEATURE_NAMES.length);
    assert.equal(FEATURE_COUNT, FEATURE_NAMES.length);
    assert.equal(FEATURE_VERSION, 4);
    assert.equal(SESSION_MAX_PACKETS, 24);
    assert.equal(extractFeatures(http).length, FEATURE_COUNT);
    for (const name of FEATURE_NAMES)
      assert.doesNotMatch(name, /addr|ttl|ip_|time_of|epoch/, 'no addresses, TTLs or absolute times');
  });

  it('computes counts, bytes, sizes, timing and flags of a hand-built HTTP session', () => {
    const v = named(extractFeatures(http));
    assert.equal(v.proto_tcp, 1);
    assert.equal(v.proto_udp, 0);
    assert.equal(v.server_port_well_known, 1);
    assert.equal(v.server_port_registered, 0);
    assert.equal(v.server_service_http, 1);
    assert.equal(v.server_service_ssh, 0);
    assert.equal(v.client_port_well_known, 0);
    assert.equal(v.packets, 8);
    assert.equal(v.packets_fwd, 5);
    assert.equal(v.packets_bwd, 3);
    assert.equal(v.fwd_packet_ratio, 5 / 8);
    assert.equal(v.reached_max_packets, 0);
    assert.equal(v.wire_bytes_fwd, 74 + 66 + 166 + 66 + 66);
    assert.equal(v.wire_bytes_bwd, 74 + 566 + 66);
    assert.equal(v.payload_bytes_fwd, 100);
    assert.equal(v.payload_bytes_bwd, 500);
    assert.equal(v.payload_packets_fwd, 1);
    assert.equal(v.payload_packets_bwd, 1);
    assert.equal(v.payload_packet_ratio, 2 / 8);
    assert.ok(Math.abs(v.bwd_payload_byte_ratio - 500 / 600) < 1e-6);
    assert.ok(Math.abs(v.wire_fwd_mean - 438 / 5) < 1e-4);
    assert.equal(v.wire_fwd_min, 66);
    assert.equal(v.wire_fwd_max, 166);
    assert.equal(v.wire_bwd_min, 66);
    assert.equal(v.wire_bwd_max, 566);
    // population std of 74, 566, 66
    const m = (74 + 566 + 66) / 3;
    const sd = Math.sqrt(((74 - m) ** 2 + (566 - m) ** 2 + (66 - m) ** 2) / 3);
    assert.ok(Math.abs(v.wire_bwd_std - sd) < 1e-3);
    assert.equal(v.payload_fwd_max, 100);
    assert.equal(v.payload_bwd_max, 500);
    assert.ok(Math.abs(v.payload_fwd_mean - 20) < 1e-6);
    assert.equal(v.first_wire_length, 74);
    assert.equal(v.first_payload_length, 0);
    assert.equal(v.header_bytes_first, 74);
    assert.ok(Math.abs(v.duration - 0.0052) < 1e-7);
    assert.ok(Math.abs(v.iat_min - 0.0001) < 1e-7);
    assert.ok(Math.abs(v.iat_max - 0.001) < 1e-7);
    assert.ok(Math.abs(v.iat_mean - 0.0052 / 7) < 1e-7);
    assert.ok(Math.abs(v.iat_bwd_mean - 0.00205) < 1e-7, 'server gaps 2.1 ms and 2.0 ms');
    assert.ok(Math.abs(v.first_response_time - 0.0001) < 1e-7);
    assert.ok(Math.abs(v.first_payload_time - 0.0012) < 1e-7);
    assert.ok(Math.abs(v.max_iat_share - 0.001 / 0.0052) < 1e-6);
    assert.equal(v.direction_changes, 6);
    assert.ok(Math.abs(v.direction_change_ratio - 6 / 7) < 1e-6);
    assert.equal(v.first_bwd_index, 1);
    assert.equal(v.syn_only_fwd, 1);
    assert.equal(v.syn_only_bwd, 0);
    assert.equal(v.syn_ack_bwd, 1);
    assert.equal(v.rst_fwd + v.rst_bwd, 0);
    assert.equal(v.fin_fwd, 1);
    assert.equal(v.fin_bwd, 1);
    assert.equal(v.psh_fwd, 1);
    assert.equal(v.psh_bwd, 1);
    assert.equal(v.ack_only_fwd, 2);
    assert.equal(v.ack_only_bwd, 0);
    assert.equal(v.first_is_syn_only, 1);
    assert.equal(v.handshake_complete, 1);
    assert.equal(v.reset_before_payload, 0);
    assert.equal(v.closed_by_client, 1);
    assert.equal(v.last_payload_from_client, 0, 'the server answered last');
    assert.equal(v.fwd_payload_after_bwd, 0);
    assert.equal(v.small_fwd_payload_packets, 0);
    assert.equal(v.bwd_payload_packet_ratio, 1);
  });

  it('sees a client trickling header lines that the server never answers (slowloris)', () => {
    const v = named(
      extractFeatures({
        proto: 'tcp',
        clientPort: 40000,
        serverPort: 80,
        packets: [
          pkt(0, 0, 74, 0, TCP_SYN),
          pkt(1, 50, 74, 0, SA),
          pkt(0, 100, 66, 0, TCP_ACK),
          pkt(0, 200, 266, 200, PA),
          pkt(1, 250, 66, 0, TCP_ACK),
          pkt(0, 2_000_200, 90, 24, PA),
          pkt(1, 2_000_250, 66, 0, TCP_ACK),
          pkt(0, 4_000_200, 88, 22, PA),
        ],
      }),
    );
    assert.equal(v.last_payload_from_client, 1);
    assert.equal(v.fwd_payload_after_bwd, 3, 'no server payload at all: every client payload packet counts');
    assert.equal(v.small_fwd_payload_packets, 2);
    assert.equal(v.bwd_payload_packet_ratio, 0);
    assert.equal(v.payload_bytes_bwd, 0);
  });

  it('describes a SYN scan of a closed port: SYN, RST+ACK, no handshake', () => {
    const v = named(
      extractFeatures({
        proto: 'tcp',
        clientPort: 40000,
        serverPort: 3389,
        packets: [pkt(0, 0, 58, 0, TCP_SYN), pkt(1, 40, 54, 0, TCP_RST | TCP_ACK)],
      }),
    );
    assert.equal(v.server_port_registered, 1);
    assert.equal(v.server_port_well_known, 0);
    assert.equal(v.syn_only_fwd, 1);
    assert.equal(v.rst_bwd, 1);
    assert.equal(v.handshake_complete, 0);
    assert.equal(v.reset_before_payload, 1);
    assert.equal(v.closed_by_client, 0);
    assert.equal(v.header_bytes_first, 58);
  });

  it('a half-open handshake reset by the client is not complete', () => {
    const v = named(
      extractFeatures({
        proto: 'tcp',
        clientPort: 40000,
        serverPort: 22,
        packets: [pkt(0, 0, 54, 0, TCP_SYN), pkt(1, 40, 58, 0, SA), pkt(0, 80, 54, 0, TCP_RST)],
      }),
    );
    assert.equal(v.handshake_complete, 0, 'an RST is not the ACK that completes the handshake');
    assert.equal(v.syn_ack_bwd, 1);
    assert.equal(v.rst_fwd, 1);
    assert.equal(v.closed_by_client, 1);
    assert.equal(v.server_service_ssh, 1);
  });

  it('handles UDP and single-packet sessions', () => {
    const v = named(
      extractFeatures({ proto: 'udp', clientPort: 53000, serverPort: 53, packets: [pkt(0, 0, 80, 38, 0)] }),
    );
    assert.equal(v.proto_udp, 1);
    assert.equal(v.server_service_dns, 1);
    assert.equal(v.packets, 1);
    assert.equal(v.duration, 0);
    assert.equal(v.iat_mean, 0);
    assert.equal(v.max_iat_share, 0);
    assert.equal(v.first_response_time, -1);
    assert.equal(v.first_bwd_index, -1);
    assert.equal(v.first_payload_time, 0);
    assert.equal(v.packets_per_second, 1000, 'a single packet counts as 1 ms long');
    assert.equal(v.no_flag_packets, 0, 'flags are a TCP matter');
    assert.equal(v.first_is_syn_only, 0);
  });

  it('classifies server ports coarsely', () => {
    const at = (serverPort: number) => named(extractFeatures({ ...http, serverPort }));
    assert.equal(at(8443).server_service_https, 1);
    assert.equal(at(8443).server_port_registered, 1);
    assert.equal(at(50000).server_port_dynamic, 1);
    assert.equal(at(1023).server_port_well_known, 1);
    assert.equal(at(1024).server_port_registered, 1);
    assert.equal(at(49152).server_port_dynamic, 1);
    assert.deepEqual(at(5000), at(7080), 'two unnamed registered ports look the same');
  });

  it('uses only the first SESSION_MAX_PACKETS packets, in time order', () => {
    const many: FeaturePacket[] = [];
    for (let i = 0; i < 40; i++) many.push(pkt(i % 2, i * 1000, 100 + i, 0, TCP_ACK));
    const v = named(extractFeatures({ proto: 'tcp', clientPort: 40000, serverPort: 80, packets: many }));
    assert.equal(v.packets, SESSION_MAX_PACKETS);
    assert.equal(v.reached_max_packets, 1);
    assert.equal(v.wire_fwd_max, 100 + 22);
    const shuffled = [...many].reverse();
    assert.deepEqual(
      extractFeatures({ proto: 'tcp', clientPort: 40000, serverPort: 80, packets: shuffled }),
      extractFeatures({ proto: 'tcp', clientPort: 40000, serverPort: 80, packets: many }),
      'packet order in the input does not matter',
    );
  });

  it('ignores packets later than FEATURE_WINDOW_US after the first', () => {
    const packets = [
      pkt(0, 0, 74, 0, TCP_SYN),
      pkt(1, FEATURE_WINDOW_US, 74, 0, SA),
      pkt(0, FEATURE_WINDOW_US + 1, 66, 0, TCP_ACK),
    ];
    assert.equal(featurePackets(packets).length, 2, 'the window includes its end');
    const v = named(extractFeatures({ proto: 'tcp', clientPort: 40000, serverPort: 80, packets }));
    assert.equal(v.packets, 2);
    assert.equal(v.handshake_complete, 0);
    assert.equal(v.duration, FEATURE_WINDOW_US / 1e6);
  });

  it('counts NULL and URG packets and ignores ECE/CWR', () => {
    const v = named(
      extractFeatures({
        proto: 'tcp',
        clientPort: 40000,
        serverPort: 80,
        packets: [pkt(0, 0, 54, 0, 0), pkt(0, 10, 54, 0, TCP_FIN | TCP_PSH | 0x20), pkt(0, 20, 54, 0, 0xc0)],
      }),
    );
    assert.equal(v.no_flag_packets, 2, 'ECE+CWR alone is no classic flag');
    assert.equal(v.urg_packets, 1);
    assert.equal(v.first_is_syn_only, 0);
  });

  it('fills a batch tensor row by row and an empty session with neutral values', () => {
    const empty: FeatureSession = { proto: 'tcp', clientPort: 1, serverPort: 2, packets: [] };
    const batch = extractFeatureBatch([http, empty]);
    assert.equal(batch.length, 2 * FEATURE_COUNT);
    assert.deepEqual(batch.subarray(0, FEATURE_COUNT), extractFeatures(http));
    const e = named(batch, FEATURE_COUNT);
    assert.equal(e.packets, 0);
    assert.equal(e.first_response_time, -1);
    assert.equal(e.client_port_well_known, 1);
    assert.equal(batch[FEATURE_COUNT + featureIndex('packets')], 0);
  });

  it('reads sessionizer sessions as splitcap stores them', () => {
    const client = { src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 22 };
    const server = { src: client.dst, sport: client.dport, dst: client.src, dport: client.sport };
    const s = new Sessionizer({ maxPacketsKept: SESSION_MAX_PACKETS });
    const add = (frame: Buffer, sec: number, nsec: number) =>
      s.add(new CapturedPacket(LINKTYPE_ETHERNET, 0, sec, nsec, frame.length, frame.length, frame, 0));
    add(buildPacket({ ...client, proto: 'tcp', tcpFlags: TCP_SYN }), 1000, 1999);
    add(buildPacket({ ...server, proto: 'tcp', tcpFlags: SA }), 1000, 501_000);
    add(buildPacket({ ...client, proto: 'tcp', tcpFlags: PA, payload: Buffer.alloc(21) }), 1001, 0);
    const [session] = [...s.sessions.values()];
    assert.ok(session);
    const fs = featureSessionOf(session);
    assert.equal(fs.proto, 'tcp');
    assert.equal(fs.clientPort, 40000);
    assert.equal(fs.serverPort, 22);
    assert.deepEqual(
      fs.packets.map((p) => [p.direction, p.tsUs, p.payloadLength, p.tcpFlags]),
      [
        [0, 1000_000_001, 0, TCP_SYN],
        [1, 1000_000_501, 0, SA],
        [0, 1001_000_000, 21, PA],
      ],
    );
    assert.equal(captureTimeUs(1, 999), 1_000_000, 'ns are truncated to µs, as splitcap does');
    const v = named(extractFeatures(fs));
    assert.equal(v.payload_bytes_fwd, 21);
    assert.equal(v.handshake_complete, 1, 'an ACK carrying data also completes the handshake');
  });
});
