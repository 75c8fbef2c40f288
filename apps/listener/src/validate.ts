// Validation of a config before it replaces a running capture: the schema, that it is meant for this agent, that
// the device exists here, and that the filter the sniffer would run (with the upload exclusion) compiles for that
// device. tcpdump -d compiles and prints the BPF program without capturing.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { composeFilter } from '@fleetcap/lib/agent/filter';
import { type AgentConfig, AgentConfigError, parseAgentConfigJson } from '@fleetcap/lib/config/agent-config';
import { type UploadPlaintextPolicy, uploadTransportProblem } from '@fleetcap/lib/upload/transport';

export type Validation = { ok: true; config: AgentConfig } | { ok: false; error: string; revision: number | null };

export interface ValidateOptions {
  agentId: string;
  tcpdump: string;
  /** Where network interfaces are listed (tests may point elsewhere). */
  sysClassNet?: string;
  /** Plain http:// splitcapUrls (FLEETCAP_UPLOAD_PLAINTEXT); default refuse. */
  uploadPlaintext?: UploadPlaintextPolicy;
}

export function compileFilter(
  tcpdump: string,
  device: string,
  snaplen: number,
  filter: string,
): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(
      tcpdump,
      ['-d', '-i', device, '-s', String(snaplen), '--', filter],
      { timeout: 10_000 },
      (err, _stdout, stderr) => {
        if (err === null) return resolve(null);
        const lines = String(stderr)
          .split('\n')
          .map((l) => l.replace(/^tcpdump: /, '').trim())
          .filter((l) => l !== '' && !/^\(.*\)$/.test(l));
        resolve(lines.join('; ') || err.message);
      },
    );
  });
}

export async function validateConfigText(text: string, options: ValidateOptions): Promise<Validation> {
  let config: AgentConfig;
  try {
    config = parseAgentConfigJson(text);
  } catch (err) {
    let revision: number | null = null;
    try {
      const r = (JSON.parse(text) as { revision?: unknown }).revision;
      if (typeof r === 'number') revision = r;
    } catch {}
    if (err instanceof AgentConfigError) return { ok: false, error: err.message, revision };
    throw err;
  }
  const fail = (error: string): Validation => ({
    ok: false,
    error: `revision ${config.revision}: ${error}`,
    revision: config.revision,
  });
  if (config.agentId !== options.agentId)
    return fail(`agentId "${config.agentId}" is not this agent ("${options.agentId}")`);
  if (!config.enabled) return { ok: true, config };
  if (!existsSync(`${options.sysClassNet ?? '/sys/class/net'}/${config.device}`)) {
    return fail(`device "${config.device}" does not exist on this host`);
  }
  let filter: string;
  try {
    filter = composeFilter(config.bpfFilter, config.splitcapUrl);
  } catch (err) {
    return fail((err as Error).message);
  }
  const error = await compileFilter(options.tcpdump, config.device, config.snaplen, filter);
  if (error !== null)
    return fail(`BPF filter ${JSON.stringify(config.bpfFilter)} does not compile on ${config.device}: ${error}`);
  const transport = uploadTransportProblem(config.splitcapUrl, options.uploadPlaintext ?? 'refuse');
  if (transport) return fail(transport);
  return { ok: true, config };
}
