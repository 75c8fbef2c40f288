// The application metadata stored with a verdict (migration 006's columns): lib/src/app-metadata read from the
// session's stored packets (their frames, decoded again), the same parsers as `fleetcap sessions`. Every text is cut
// to its column's length (counted per field), and nothing here throws: a parser problem, a missing frame or an
// exception leaves the fields empty and is counted, so a hostile payload never costs a verdict.
import { appMetadataOf } from '@fleetcap/lib/app-metadata/detect';
import { appSessionOfStored, type StoredFrameProblems } from '@fleetcap/lib/app-metadata/from-stored-session';
import type { AppMetadata } from '@fleetcap/lib/app-metadata/types';
import { METADATA_COLUMN_NAMES, METADATA_COLUMNS, type MetadataColumn } from '@fleetcap/lib/db/session-verdict-columns';
import type { LoadedSession } from '@fleetcap/lib/session-store/reader';

export {
  METADATA_COLUMN_NAMES,
  METADATA_COLUMNS,
  type MetadataColumn,
} from '@fleetcap/lib/db/session-verdict-columns';

export type MetadataValues = Record<MetadataColumn, string | number | null>;

export interface VerdictMetadata {
  values: MetadataValues;
  /** Columns whose text was cut to the column's length. */
  truncated: MetadataColumn[];
  /** The parsers' reason codes, plus `stored.no-frame`, `stored.undecodable`, `metadata.exception`. */
  problems: string[];
  /** Fields a packet beyond the stored ones would give (AppMetadata.needsMorePackets). */
  beyondStored: string[];
}

/** Metadata of no session: every column NULL. */
export function emptyMetadataValues(): MetadataValues {
  return Object.fromEntries(METADATA_COLUMN_NAMES.map((c) => [c, null])) as MetadataValues;
}

/** The columns' values of a session's metadata, before they are fitted to the columns. */
export function metadataColumnsOf(m: AppMetadata): Partial<Record<MetadataColumn, string | number | undefined>> {
  return {
    service: m.service,
    http_method: m.http?.method,
    http_host: m.http?.host,
    http_uri: m.http?.uri,
    http_user_agent: m.http?.userAgent,
    http_status: m.http?.status,
    // Zeek's ssl.log `version` is the one the server chose; without a ServerHello, the client's highest.
    tls_version: m.tls?.serverVersion ?? m.tls?.clientMaxVersion,
    tls_sni: m.tls?.sni,
    tls_alpn: m.tls?.alpn?.length ? m.tls.alpn.join(',') : undefined,
    ja4: m.tls?.ja4,
    dns_query: m.dns?.queryName,
    dns_qtype: m.dns?.queryType,
    dns_rcode: m.dns?.rcode,
    ssh_client: m.ssh?.client,
    ssh_server: m.ssh?.server,
    hassh: m.ssh?.hassh,
    hassh_server: m.ssh?.hasshServer,
  };
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `text` fitted to `length` characters of a utf8mb4 column: lone surrogates replaced, cut when longer. */
function fit(text: string, length: number): { text: string; cut: boolean } {
  const wellFormed = text.replace(LONE_SURROGATE, '\uFFFD');
  const chars = [...wellFormed];
  if (chars.length <= length) return { text: wellFormed, cut: false };
  return { text: chars.slice(0, length).join(''), cut: true };
}

export function verdictMetadata(session: LoadedSession): VerdictMetadata {
  const values = emptyMetadataValues();
  const truncated: MetadataColumn[] = [];
  const problems: string[] = [];
  let metadata: AppMetadata;
  try {
    const frames: StoredFrameProblems = { noFrame: 0, undecodable: 0 };
    metadata = appMetadataOf(appSessionOfStored(session, frames));
    if (frames.noFrame > 0) problems.push('stored.no-frame');
    if (frames.undecodable > 0) problems.push('stored.undecodable');
  } catch {
    // The parsers do not throw on wire data; this is a bug, kept from costing the verdict.
    problems.push('metadata.exception');
    values.metadata_problems = problems.join(',');
    return { values, truncated, problems, beyondStored: [] };
  }
  problems.push(...metadata.problems);
  for (const [column, value] of Object.entries(metadataColumnsOf(metadata)) as Array<
    [MetadataColumn, string | number | undefined]
  >) {
    if (value === undefined) continue;
    const length = METADATA_COLUMNS[column];
    if (typeof value === 'number' || length === null) {
      values[column] = value;
      continue;
    }
    const fitted = fit(value, length);
    values[column] = fitted.text;
    if (fitted.cut) truncated.push(column);
  }
  values.metadata_truncated = truncated.length;
  if (problems.length > 0) values.metadata_problems = fit(problems.join(','), METADATA_COLUMNS.metadata_problems).text;
  return { values, truncated, problems, beyondStored: metadata.needsMorePackets };
}
