// Uploading a capture to splitcap as an agent does (lib/src/upload/batch-upload.ts: the path and the headers), for
// the tests and benches that feed the pipeline through splitcap's front door.
import { BATCHES_PATH, uploadHeaders } from '@fleetcap/lib/upload/batch-upload';

export interface BatchSender {
  agent: string;
  token: string;
}

/** POSTs one pcap as batch `batchId` of `sender` to the splitcap at 127.0.0.1:port; the answer is the caller's. */
export function postBatch(port: number, sender: BatchSender, batchId: string, pcap: Buffer): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${BATCHES_PATH}`, {
    method: 'POST',
    headers: uploadHeaders(sender.agent, sender.token, batchId),
    body: pcap,
  });
}
