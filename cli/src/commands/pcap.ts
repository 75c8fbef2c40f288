// `fleetcap pcap <verdict id | community id | agent/session-key> [-o FILE] [--agent ID] [--all]`: the packets an
// alerted session held, as a pcap file tshark and Wireshark read (alert_packet, kept by the session-worker with the
// verdict row; read with the reporting account). A Community ID names a conversation, which several agents (or
// several occurrences) may have seen: then the command lists the sessions and asks for one (`--agent`, or the
// verdict id), or writes them all into one file with `--all`.
import { writeFileSync } from 'node:fs';
import { type KeptPacket, keptPackets, pcapOfKeptPackets } from '@fleetcap/lib/pcap/kept-packets';
import type { Command } from 'commander';
import type mysql from 'mysql2/promise';
import { renderTable, withReportConnection } from './report.ts';

export type { KeptPacket };

/** The kept packets as one pcap file (lib/src/pcap/kept-packets.ts, shared with the console's download). */
export const pcapOf = pcapOfKeptPackets;

export const EXIT_WRITTEN = 0;
export const EXIT_FAILED = 1;
export const EXIT_AMBIGUOUS = 2;

export type SessionRef =
  | { kind: 'verdict'; id: number }
  | { kind: 'community'; communityId: string }
  | { kind: 'session'; agent: string; key: string };

export class PcapCommandError extends Error {
  override name = 'PcapCommandError';
}

/**
 * What the argument names: digits are a verdict id (`id` of report_alerts), "1:<base64>" a Community ID v1, and
 * "<agent>/<session key>" one agent's session (the name of its Redis keys, e.g. host-1/tcp/10.0.0.1/443/10.0.0.2/51000).
 */
export function parseSessionRef(arg: string): SessionRef {
  const text = arg.trim();
  if (/^\d+$/.test(text)) return { kind: 'verdict', id: Number(text) };
  if (/^1:[A-Za-z0-9+/]+=*$/.test(text)) return { kind: 'community', communityId: text };
  const slash = text.indexOf('/');
  if (slash > 0 && /^(tcp|udp)\//.test(text.slice(slash + 1)))
    return { kind: 'session', agent: text.slice(0, slash), key: text.slice(slash + 1) };
  throw new PcapCommandError(
    `${JSON.stringify(arg)} names no session: give a verdict id (the id column of report_alerts, e.g. 42), a Community ID (1:…), or <agent>/<session key> (e.g. host-1/tcp/10.0.0.1/443/10.0.0.2/51000)`,
  );
}

export interface SessionMatch {
  id: number;
  agent_id: string;
  session_key: string;
  occurrence: string;
  community_id: string | null;
  label: string;
  alert: number;
  /** Why it is an alert (migration 010): a row the detector made an alert after its verdict has no packets kept. */
  alert_reason?: string | null;
  detection_id?: string | null;
  first_packet_at: Date | string;
  packets: number;
  packets_kept: number;
}

/** The sessions an argument names (narrowed to one agent with `agent`), newest first. */
export async function findSessions(c: mysql.Connection, ref: SessionRef, agent?: string): Promise<SessionMatch[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  if (ref.kind === 'verdict') {
    where.push('v.id = ?');
    values.push(ref.id);
  } else if (ref.kind === 'community') {
    where.push('v.community_id = ?');
    values.push(ref.communityId);
  } else {
    where.push('v.agent_id = ?', 'v.session_key = ?');
    values.push(ref.agent, ref.key);
  }
  if (agent !== undefined) {
    where.push('v.agent_id = ?');
    values.push(agent);
  }
  const [rows] = await c.query(
    `SELECT v.id, v.agent_id, v.session_key, CAST(v.occurrence AS CHAR) AS occurrence, v.community_id, v.label, v.alert,
            v.alert_reason, v.detection_id, v.first_packet_at, v.packets,
            (SELECT COUNT(*) FROM alert_packet p WHERE p.verdict_id = v.id) AS packets_kept
     FROM session_verdict v WHERE ${where.join(' AND ')} ORDER BY v.first_packet_at DESC, v.id DESC LIMIT 1000`,
    values,
  );
  return (rows as SessionMatch[]).map((r) => ({ ...r, packets_kept: Number(r.packets_kept) }));
}

function describeRef(ref: SessionRef): string {
  if (ref.kind === 'verdict') return `verdict ${ref.id}`;
  if (ref.kind === 'community') return `Community ID ${ref.communityId}`;
  return `session ${ref.agent}/${ref.key}`;
}

const cell = (m: SessionMatch) => ({
  id: m.id,
  agent: m.agent_id,
  session: m.session_key,
  first_packet_at: m.first_packet_at,
  label: m.label,
  alert: m.alert ? 'yes' : 'no',
  packets: m.packets,
  packets_kept: m.packets_kept,
});

export interface PcapOptions {
  output?: string;
  agent?: string;
  all?: boolean;
}

interface Io {
  out: { write(data: string | Buffer): unknown };
  err: { write(text: string): unknown };
}

/**
 * Finds the session(s), checks that their packets were kept, writes the pcap. Returns the exit code; every failure
 * is one message on err.
 */
export async function runPcap(
  c: mysql.Connection,
  arg: string,
  options: PcapOptions,
  io: Io = { out: process.stdout, err: process.stderr },
): Promise<number> {
  const fail = (message: string, code = EXIT_FAILED) => {
    io.err.write(`fleetcap pcap: ${message}\n`);
    return code;
  };
  let ref: SessionRef;
  try {
    ref = parseSessionRef(arg);
  } catch (err) {
    return fail((err as Error).message);
  }
  const what = describeRef(ref) + (options.agent !== undefined ? ` of agent ${options.agent}` : '');
  const matches = await findSessions(c, ref, options.agent);
  if (matches.length === 0) return fail(`${what}: no such verdict`);
  const alerts = matches.filter((m) => m.alert);
  if (alerts.length === 0) {
    const labels = [...new Set(matches.map((m) => m.label))].join(', ');
    return fail(
      `${what}: not an alert (${matches.length === 1 ? `label ${labels}` : `${matches.length} sessions, labels ${labels}`}): only the packets of alerts are kept`,
    );
  }
  if (alerts.length > 1 && !options.all) {
    const agents = [...new Set(alerts.map((m) => m.agent_id))];
    return fail(
      `${what} matches ${alerts.length} alerted sessions (${agents.length} agent${agents.length === 1 ? '' : 's'}: ${agents.join(', ')}); pick one by its id (fleetcap pcap <id>) or with --agent <id>, or write them all into one file with --all:\n${renderTable(alerts.map(cell))}`,
      EXIT_AMBIGUOUS,
    );
  }
  const kept = alerts.filter((m) => m.packets_kept > 0);
  if (kept.length === 0) {
    const late = alerts.filter((m) => m.alert_reason === 'detection');
    if (late.length === alerts.length) {
      return fail(
        `${what}: alert ${late.map((m) => m.id).join(', ')} is evidence of detection ${late[0]!.detection_id}, made an alert after its verdict: its packets were freed before the incident existed and none were kept (sessions verdicted while the incident is open keep theirs)`,
      );
    }
    const [policy] = await c.query("SELECT retention_days FROM retention_policy WHERE data = 'alert_packet'");
    const days = (policy as Array<{ retention_days: number }>)[0]?.retention_days;
    return fail(
      `${what}: the packets of alert ${alerts.map((m) => m.id).join(', ')} are no longer kept: deleted by the retention (retention_policy keeps alert packets ${days ?? '(no row: forever)'} days) or never stored (a splitcap from before stored frames)`,
    );
  }
  const packets = await keptPackets(
    c,
    kept.map((m) => m.id),
  );
  let file: Buffer;
  try {
    file = pcapOf(packets);
  } catch (err) {
    return fail(`${what}: ${(err as Error).message}`);
  }
  const output =
    options.output ?? `fleetcap-${kept.length === 1 ? kept[0]!.id : `${kept[0]!.id}-and-${kept.length - 1}`}.pcap`;
  if (output === '-') io.out.write(file);
  else writeFileSync(output, file);
  const sessions =
    kept.length === 1
      ? `session ${kept[0]!.agent_id}/${kept[0]!.session_key} (verdict ${kept[0]!.id}, ${kept[0]!.label})`
      : `${kept.length} sessions (verdicts ${kept.map((m) => m.id).join(', ')}; agents ${[...new Set(kept.map((m) => m.agent_id))].join(', ')}), in time order`;
  const missing = alerts.length - kept.length;
  io.err.write(
    `fleetcap pcap: wrote ${packets.length} packets of ${sessions} to ${output === '-' ? 'stdout' : output}${missing > 0 ? `; ${missing} more alerted sessions have no packets kept` : ''}\n`,
  );
  return EXIT_WRITTEN;
}

export function registerPcapCommand(program: Command): void {
  program
    .command('pcap')
    .description(
      "an alerted session's packets as a pcap file (kept by the session-worker; retention_policy bounds how long)",
    )
    .argument('<session>', 'a verdict id (report_alerts.id), a Community ID (1:…), or <agent>/<session key>')
    .option('-o, --output <file>', 'where to write the pcap (- for stdout; default fleetcap-<verdict id>.pcap)')
    .option('--agent <id>', "only this agent's session (a Community ID seen by several agents)")
    .option('--all', 'every alerted session the argument matches, in one file in time order')
    .action(async (arg: string, options: PcapOptions) => {
      try {
        process.exitCode = await withReportConnection((c) => runPcap(c, arg, options));
      } catch (err) {
        console.error(`fleetcap pcap: ${(err as Error).message}`);
        process.exitCode = EXIT_FAILED;
      }
    });
}
