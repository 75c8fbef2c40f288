// The sniffer's batch byte cap against splitcap's body limit (issue 19, Build 1): a batch the sniffer closes at its
// default cap is one a splitcap at its default limit takes, so that no batch is answered 413 and discarded. Here, not
// in either app, because the root package is the one that declares both.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batcher } from '@fleetcap/sniffer/batcher';
import { loadSnifferOptions } from '@fleetcap/sniffer/options';
import { loadSplitcapConfig } from '@fleetcap/splitcap/config';

const agentConfig = JSON.stringify({
  agentId: 'host-1',
  device: 'eth0',
  splitcapUrl: 'http://127.0.0.1:8080',
  revision: 1,
});

test("the default batch byte cap is below splitcap's default body limit, and a full batch stays under it", () => {
  const sniffer = loadSnifferOptions([], { FLEETCAP_UPLOAD_PLAINTEXT: 'loopback' }, agentConfig);
  const splitcap = loadSplitcapConfig({
    FLEETCAP_SPLITCAP_TOKENS: 'host-1=12345678',
    FLEETCAP_SPLITCAP_PLAINTEXT: 'loopback',
  });
  assert.ok(
    sniffer.batchMaxBytes < splitcap.FLEETCAP_SPLITCAP_MAX_BODY_BYTES,
    `FLEETCAP_BATCH_MAX_BYTES ${sniffer.batchMaxBytes} must be below FLEETCAP_SPLITCAP_MAX_BODY_BYTES ${splitcap.FLEETCAP_SPLITCAP_MAX_BODY_BYTES}`,
  );
  // Batches of snaplen-sized packets until one closes on bytes: the closed file is within the cap, so within the limit.
  const snaplen = sniffer.config.snaplen;
  const files: Uint8Array[] = [];
  const batcher = new Batcher({
    maxPackets: 1_000_000,
    maxMs: 3_600_000,
    maxBytes: sniffer.batchMaxBytes,
    snaplen,
    onBatch: (b) => files.push(b.file),
    timers: { set: () => 0, clear: () => {} },
  });
  const data = new Uint8Array(snaplen).fill(0xab);
  for (let i = 0; files.length === 0 && i < 1_000_000; i++)
    batcher.add({ linktype: 1, tsSec: 1_700_000_000, tsNsec: i, data, origLen: snaplen });
  assert.equal(files.length, 1, 'a batch closed on bytes');
  const file = files[0]!;
  assert.ok(file.length <= sniffer.batchMaxBytes, `${file.length} bytes, over the cap`);
  assert.ok(file.length < splitcap.FLEETCAP_SPLITCAP_MAX_BODY_BYTES, `${file.length} bytes, over splitcap's limit`);
});
