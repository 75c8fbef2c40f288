// A sniffer that trusts the stack's CA only (FLEETCAP_SPLITCAP_CA_FILE) facing an impostor: a real splitcap serving
// a certificate from another CA on the URL of the agent's config. The sniffer sends nothing (no token, no packet):
// it logs sniffer.upload.untrusted-certificate, counts fleetcap_sniffer_upload_untrusted_certificates, keeps the
// batches in its spool; the impostor stores nothing and counts the failed handshakes. And a plain http:// URL is
// refused before anything is captured unless FLEETCAP_UPLOAD_PLAINTEXT allows it. Needs root (tcpdump on lo).
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CONFIG_ENV } from '@fleetcap/lib/agent/ipc';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { httpsGet, metricValue, rogueCertificate, stackTls } from '../helpers/security.ts';
import { assertStackUp, uniqueId } from '../helpers/stack.ts';

const skip = process.getuid?.() !== 0 ? 'SKIPPED: tcpdump needs root' : false;
const prefix = uniqueId('sectls').replace(/[^A-Za-z0-9]/g, '');
const agentId = `${prefix}-agent`;
const token = 'impostor-knows-nothing-0123';
const work = mkdtempSync(join(tmpdir(), 'fleetcap-sec-tls-'));
const port = 33000 + Math.floor(Math.random() * 1000);
let impostor: RunningApp | undefined;
let sniffer: RunningApp | undefined;

const config = (splitcapUrl: string) =>
  JSON.stringify({
    agentId,
    device: 'lo',
    bpfFilter: `udp port ${port}`,
    splitcapUrl,
    batchPackets: 5,
    batchMs: 200,
    uploadConcurrency: 1,
    revision: 1,
  });

async function sendDatagrams(n: number): Promise<void> {
  const s = createSocket('udp4');
  for (let i = 0; i < n; i++) {
    s.send(Buffer.from(`datagram ${i}`), port, '127.0.0.1');
    await sleep(20);
  }
  s.close();
}

before(async () => {
  if (skip) return;
  assertStackUp();
  const rogue = rogueCertificate(join(work, 'rogue'));
  impostor = await startApp('splitcap', {
    FLEETCAP_SPLITCAP_PORT: '0',
    FLEETCAP_SPLITCAP_TLS_CERT: rogue.cert,
    FLEETCAP_SPLITCAP_TLS_KEY: rogue.key,
    FLEETCAP_SPLITCAP_CREDENTIALS: 'tokens',
    FLEETCAP_SPLITCAP_TOKENS: `${agentId}=${token}`,
    FLEETCAP_REDIS_PREFIX: prefix,
    FLEETCAP_QUEUE_PREFIX: prefix,
    FLEETCAP_SESSION_DELAY_MS: '1000',
  });
});

after(async () => {
  await sniffer?.stop();
  await impostor?.stop();
  if (!skip) await removePipelineNamespace(prefix, 1000);
  rmSync(work, { recursive: true, force: true });
});

test('an upload against a certificate from another CA is refused by the sniffer: nothing sent, batches kept, logged and counted', {
  skip,
}, async () => {
  const spool = join(work, 'spool');
  sniffer = await startApp('sniffer', {
    [CONFIG_ENV]: config(`https://127.0.0.1:${impostor!.port}`),
    FLEETCAP_AGENT_TOKEN: token,
    FLEETCAP_SPLITCAP_CA_FILE: stackTls.ca,
    FLEETCAP_UPLOAD_PLAINTEXT: 'refuse',
    FLEETCAP_SNIFFER_METRICS_PORT: '0',
    FLEETCAP_SPOOL_DIR: spool,
    FLEETCAP_UPLOAD_BACKOFF_MAX_MS: '500',
    FLEETCAP_LOG_LEVEL: 'info',
  });
  await sendDatagrams(20);
  const deadline = Date.now() + 15000;
  let untrusted = 0;
  while (Date.now() < deadline) {
    const m = await (await fetch(`http://127.0.0.1:${sniffer.port}/metrics`)).text();
    untrusted = metricValue(m, 'fleetcap_sniffer_upload_untrusted_certificates');
    if (untrusted >= 2) break;
    await sleep(200);
  }
  assert.ok(untrusted >= 2, `untrusted-certificate attempts: ${untrusted}\n${sniffer.output().slice(-2000)}`);
  assert.match(sniffer.output(), /"code":"sniffer\.upload\.untrusted-certificate"/);
  assert.match(sniffer.output(), /not signed by the CA this agent trusts/);
  // Kept for a splitcap it trusts (never moved to rejected/).
  const kept = readdirSync(spool).filter((f) => f.endsWith('.pcap'));
  assert.ok(kept.length >= 1, `batches in the spool: ${readdirSync(spool).join(', ')}`);
  const m = (await httpsGet(`https://127.0.0.1:${impostor!.port}/metrics`, readFileSync(join(work, 'rogue', 'ca.crt'))))
    .body;
  assert.equal(
    metricValue(m, 'fleetcap_splitcap_batches_total', { outcome: 'stored' }),
    0,
    'the impostor got no batch',
  );
  assert.ok(metricValue(m, 'fleetcap_splitcap_tls_refusals_total', { reason: 'handshake' }) >= 1);
  await sniffer.stop();
  sniffer = undefined;
});

test('a plain http:// splitcapUrl is refused at start unless FLEETCAP_UPLOAD_PLAINTEXT allows it', {
  skip,
}, async () => {
  await assert.rejects(
    startApp('sniffer', {
      [CONFIG_ENV]: config('http://127.0.0.1:9'),
      FLEETCAP_AGENT_TOKEN: token,
      FLEETCAP_UPLOAD_PLAINTEXT: 'refuse',
      FLEETCAP_SPOOL_DIR: join(work, 'spool-plain'),
    }),
    /splitcapUrl http:\/\/127\.0\.0\.1:9 is plain HTTP: the token and the packets would travel in clear/,
  );
});
