// The alerts page's filters, from its query string: a time range (UTC), a label (the class an alert is alerted as),
// an agent, a source and a target, and where the page starts (the cursor of its "older" link). A value that is not one
// of these shapes is refused with what was wrong and the shape expected (the page shows it and counts it), never
// passed to SQL.
import { agentIdPattern } from '@fleetcap/lib/agent/paths';

export interface AlertFilters {
  from: Date;
  to: Date;
  label?: string;
  agent?: string;
  /** The client address (the side that sent the first packet). */
  source?: string;
  /** The server address, or address:port. */
  target?: string;
  targetPort?: number;
  /** Keyset pagination: the page holds the alerts after this one in the page's order (time, class, id; newest first). */
  before?: AlertCursor;
}

/** An alert's place in the page's order: its first packet (MariaDB's DATETIME(6) text, UTC), class and id. */
export interface AlertCursor {
  at: string;
  /** null: an alert row without alert_label (written before sql/010 gave every alert one). */
  label: string | null;
  id: number;
}

export class FilterError extends Error {
  override name = 'FilterError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

const labelPattern = /^[a-z0-9_.-]{1,64}$/i;
const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const ipv6 = /^[0-9a-f:.]{2,45}$/i;
/** What <input type="datetime-local"> sends (no zone: read as UTC), or an ISO time with Z. */
const timePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?Z?$/;

export const MAX_RANGE_DAYS = 366;
/** `<first_packet_at as YYYY-MM-DD HH:MM:SS.ffffff>~<class>~<id>` (the class empty for none). */
const cursorPattern = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6})~([a-z0-9_.-]{0,64})~(\d{1,19})$/i;

export function cursorText(c: AlertCursor): string {
  return `${c.at}~${c.label ?? ''}~${c.id}`;
}

function address(field: string, text: string): string {
  const m = ipv4.exec(text);
  if (m?.slice(1).every((o) => Number(o) <= 255)) return text;
  if (!m && ipv6.test(text) && text.includes(':')) return text.toLowerCase();
  throw new FilterError(field, `"${text}" is not an IPv4 or IPv6 address (e.g. 10.0.0.5 or 2001:db8::1)`);
}

function time(field: string, text: string): Date {
  if (!timePattern.test(text))
    throw new FilterError(field, `"${text}" is not a time: give YYYY-MM-DDTHH:MM (UTC), e.g. 2026-12-01T08:00`);
  const d = new Date(text.endsWith('Z') ? text : `${text}Z`);
  if (Number.isNaN(d.getTime())) throw new FilterError(field, `"${text}" is no such time`);
  return d;
}

type Query = Record<string, unknown>;

function text(q: Query, name: string): string | undefined {
  const v = q[name];
  if (Array.isArray(v)) throw new FilterError(name, 'given more than once');
  if (v === undefined || v === null) return undefined;
  const s = String(v).trim();
  return s === '' ? undefined : s;
}

/**
 * The filters of a request; missing times default to the `defaultHours` whole hours up to the end of the current
 * hour (the hourly rollup counts exactly that range).
 */
export function parseAlertFilters(q: Query, now: Date, defaultHours: number): AlertFilters {
  const toText = text(q, 'to');
  const fromText = text(q, 'from');
  const to = toText ? time('to', toText) : new Date(Math.ceil(now.getTime() / 3_600_000) * 3_600_000);
  const from = fromText ? time('from', fromText) : new Date(to.getTime() - defaultHours * 3_600_000);
  if (from >= to) throw new FilterError('from', 'must be before to');
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * 86_400_000)
    throw new FilterError('from', `the range is longer than ${MAX_RANGE_DAYS} days: narrow it`);
  const f: AlertFilters = { from, to };
  const label = text(q, 'label');
  if (label !== undefined) {
    if (!labelPattern.test(label)) throw new FilterError('label', `"${label}" is not a label (letters, digits, _ . -)`);
    f.label = label;
  }
  const agent = text(q, 'agent');
  if (agent !== undefined) {
    if (!agentIdPattern.test(agent)) throw new FilterError('agent', `"${agent}" is not an agent id`);
    f.agent = agent;
  }
  const source = text(q, 'source');
  if (source !== undefined) f.source = address('source', source);
  const target = text(q, 'target');
  if (target !== undefined) {
    // address:port for IPv4, [address]:port for IPv6, or a bare address.
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(target) ?? /^([^:]+):(\d+)$/.exec(target);
    if (m) {
      const port = Number(m[2]);
      if (port < 1 || port > 65535) throw new FilterError('target', `port ${m[2]} is not 1-65535`);
      f.target = address('target', m[1]!);
      f.targetPort = port;
    } else {
      f.target = address('target', target.replace(/^\[(.*)\]$/, '$1'));
    }
  }
  const before = text(q, 'before');
  if (before !== undefined) {
    const m = cursorPattern.exec(before);
    if (!m)
      throw new FilterError(
        'before',
        `"${before}" is not a place in the alerts (YYYY-MM-DD HH:MM:SS.ffffff~label~id): follow the page's "older" link`,
      );
    f.before = { at: m[1]!, label: m[2] === '' ? null : m[2]!, id: Number(m[3]) };
  }
  return f;
}

/** The filters as a query string (for links: the older page, the first page). */
export function filterQuery(f: AlertFilters, overrides: Partial<Record<string, string>> = {}): string {
  const p = new URLSearchParams();
  p.set('from', f.from.toISOString().slice(0, 16));
  p.set('to', f.to.toISOString().slice(0, 16));
  if (f.label) p.set('label', f.label);
  if (f.agent) p.set('agent', f.agent);
  if (f.source) p.set('source', f.source);
  if (f.target)
    p.set('target', f.targetPort ? `${f.target.includes(':') ? `[${f.target}]` : f.target}:${f.targetPort}` : f.target);
  if (f.before) p.set('before', cursorText(f.before));
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined || v === '') p.delete(k);
    else p.set(k, v);
  }
  return p.toString();
}
