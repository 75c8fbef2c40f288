// The agent config: the JSON that config-sync writes to ZooKeeper at <root>/agents/<agentId>/config (mirrored
// from one sniffer_config row) and that the listener validates before it hands it to a sniffer. One schema for both
// sides, so that what config-sync accepts is exactly what the listener can run.
import { z } from 'zod';
import { agentIdPattern } from '../agent/paths.ts';

/** Largest snapshot length libpcap accepts (MAXIMUM_SNAPLEN). */
export const MAX_SNAPLEN = 262144;
/** Smallest snapshot length that still holds Ethernet + IPv6 + TCP headers. */
export const MIN_SNAPLEN = 96;

/** Linux interface names: at most 15 bytes, no slash, no whitespace (IFNAMSIZ - 1). */
const devicePattern = /^[^\s/]{1,15}$/;

function intIn(name: string, min: number, max: number) {
  return z
    .number({
      required_error: `${name} is required`,
      invalid_type_error: `${name} must be a number`,
    })
    .int(`${name} must be a whole number`)
    .min(min, `${name} must be at least ${min}`)
    .max(max, `${name} must be at most ${max}`);
}

export const agentConfigSchema = z
  .object({
    agentId: z
      .string({ required_error: 'agentId is required', invalid_type_error: 'agentId must be a string' })
      .regex(
        agentIdPattern,
        'agentId must be 1-64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit',
      ),
    device: z
      .string({ required_error: 'device is required', invalid_type_error: 'device must be a string' })
      .regex(devicePattern, 'device must be a network interface name (1-15 characters, no spaces or "/")'),
    bpfFilter: z
      .string({ invalid_type_error: 'bpfFilter must be a string' })
      .max(4096, 'bpfFilter must be at most 4096 characters')
      .refine((s) => !/[\0\n\r]/.test(s), 'bpfFilter must be one line without NUL characters')
      .default(''),
    splitcapUrl: z
      .string({ required_error: 'splitcapUrl is required', invalid_type_error: 'splitcapUrl must be a string' })
      .url('splitcapUrl must be an absolute URL such as http://splitcap.example:8080')
      .refine((s) => /^https?:\/\//i.test(s), 'splitcapUrl must use http or https'),
    snaplen: intIn('snaplen', MIN_SNAPLEN, MAX_SNAPLEN).default(MAX_SNAPLEN),
    batchPackets: intIn('batchPackets', 1, 1_000_000).default(1000),
    batchMs: intIn('batchMs', 10, 3_600_000).default(1000),
    uploadConcurrency: intIn('uploadConcurrency', 1, 64).default(2),
    enabled: z.boolean({ invalid_type_error: 'enabled must be true or false' }).default(true),
    revision: intIn('revision', 0, Number.MAX_SAFE_INTEGER),
  })
  .strict();

export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

export class AgentConfigError extends Error {
  override name = 'AgentConfigError';
  constructor(
    message: string,
    readonly issues: string[],
  ) {
    super(message);
  }
}

function describe(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.join('.') : '(config)';
    if (issue.code === 'unrecognized_keys') return `${where}: unknown field(s) ${issue.keys.join(', ')}`;
    return `${where}: ${issue.message}`;
  });
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: AgentConfigError };

/** Validates an already-parsed value; never throws. */
export function safeParseAgentConfig(value: unknown): ParseResult<AgentConfig> {
  const parsed = agentConfigSchema.safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issues = describe(parsed.error);
  return { ok: false, error: new AgentConfigError(`invalid agent config: ${issues.join('; ')}`, issues) };
}

/** Validates a value; throws AgentConfigError with one line per problem. */
export function parseAgentConfig(value: unknown): AgentConfig {
  const result = safeParseAgentConfig(value);
  if (!result.ok) throw result.error;
  return result.value;
}

/** Parses the JSON text of a ZooKeeper node (or an environment variable) and validates it. */
export function parseAgentConfigJson(text: string): AgentConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const message = `agent config is not JSON: ${(err as Error).message}`;
    throw new AgentConfigError(message, [message]);
  }
  return parseAgentConfig(value);
}

/** The JSON written to ZooKeeper: the config with its fields in a stable order. */
export function agentConfigToJson(config: AgentConfig): string {
  const c = parseAgentConfig(config);
  return JSON.stringify({
    agentId: c.agentId,
    device: c.device,
    bpfFilter: c.bpfFilter,
    splitcapUrl: c.splitcapUrl,
    snaplen: c.snaplen,
    batchPackets: c.batchPackets,
    batchMs: c.batchMs,
    uploadConcurrency: c.uploadConcurrency,
    enabled: c.enabled,
    revision: c.revision,
  });
}

/** A sniffer_config row as mysql2 or a Debezium change event (schemaless JSON) hands it over. */
export interface SnifferConfigRow {
  agent_id: unknown;
  device: unknown;
  bpf_filter?: unknown;
  splitcap_url: unknown;
  snaplen?: unknown;
  batch_packets?: unknown;
  batch_ms?: unknown;
  upload_concurrency?: unknown;
  enabled?: unknown;
  revision: unknown;
  [column: string]: unknown;
}

/** Numbers arrive as numbers (mysql2), as strings (BIGINT as string) or as bigint; anything else is left for zod. */
function toNumber(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number(value.trim());
  return value;
}

/** TINYINT(1) arrives as 0/1, "0"/"1", or a boolean. */
function toBoolean(value: unknown): unknown {
  if (value === 0 || value === '0') return false;
  if (value === 1 || value === '1') return true;
  return value;
}

/**
 * Maps a sniffer_config row (snake_case columns) to a validated agent config. Columns the schema does not know
 * (created_at, updated_at) are ignored; a NULL counts as absent so that the column default applies.
 */
export function agentConfigFromRow(row: SnifferConfigRow): AgentConfig {
  const pick = (v: unknown) => (v === null ? undefined : v);
  return parseAgentConfig({
    agentId: pick(row.agent_id),
    device: pick(row.device),
    bpfFilter: pick(row.bpf_filter),
    splitcapUrl: pick(row.splitcap_url),
    snaplen: toNumber(pick(row.snaplen)),
    batchPackets: toNumber(pick(row.batch_packets)),
    batchMs: toNumber(pick(row.batch_ms)),
    uploadConcurrency: toNumber(pick(row.upload_concurrency)),
    enabled: toBoolean(pick(row.enabled)),
    revision: toNumber(pick(row.revision)),
  });
}

/** Same as agentConfigFromRow without throwing: config-sync reports the error in agent_status instead. */
export function safeAgentConfigFromRow(row: SnifferConfigRow): ParseResult<AgentConfig> {
  try {
    return { ok: true, value: agentConfigFromRow(row) };
  } catch (err) {
    if (err instanceof AgentConfigError) return { ok: false, error: err };
    throw err;
  }
}
