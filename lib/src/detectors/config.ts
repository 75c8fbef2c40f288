// Each detector's thresholds and window. The defaults are here; online they come from the detector_config table
// (sql/007_detections.sql), read again every FLEETCAP_DETECTOR_CONFIG_REFRESH_MS, so an UPDATE takes effect without a
// restart. A row that is not valid is refused with what is wrong, and the detector keeps its previous settings.
import { z } from 'zod';

export const DETECTORS = ['horizontal_scan', 'vertical_scan', 'syn_flood', 'brute_force', 'beaconing'] as const;
export type DetectorName = (typeof DETECTORS)[number];

export interface DetectorSettings {
  enabled: boolean;
  /**
   * What opens an incident: distinct destinations (horizontal scan), distinct ports (vertical scan), half-open
   * sessions (SYN flood), short sessions (brute force) or regular connections (beaconing) within the window.
   */
  threshold: number;
  windowSeconds: number;
  /** Members (destinations, ports, sessions, start times) kept per subject; the oldest are evicted past it. */
  memberCap: number;
  /** Subjects (sources, targets) tracked at once; the least recently seen are evicted past it. */
  subjectCap: number;
  /** Evidence sessions (Community IDs), targets, sources and agents listed per incident. */
  evidenceCap: number;
  /** brute_force: the authentication services' ports. */
  ports: number[];
  /** brute_force: sessions the model labelled so count on any port (HTTP logins, services on other ports). */
  labels: string[];
  /** brute_force: longer sessions are not attempts. */
  maxSessionSeconds: number;
  /** beaconing: shortest period, share of intervals allowed off the median, starts closer than this are one. */
  minPeriodSeconds: number;
  maxJitter: number;
  mergeSeconds: number;
  /**
   * brute_force: distinct cleartext credentials (auth-attempts.ts) the service refused to the source within the
   * window that open an incident whatever the attempts' count (0: off; 3 by default, pam_faillock's deny). They are
   * counted apart from the attempts: a client that reconnects with its one wrong password adds one credential
   * however often it reconnects.
   */
  credentialThreshold: number;
  /**
   * The UDP probes' own threshold (0: off), as a closed UDP port answers with ICMP, which no UDP session shows: a UDP
   * probe and a benign datagram nobody answered look alike.
   * vertical_scan: distinct UDP ports probed without a reply (members `udp/<port>`) that open an incident whatever the
   * count of all ports (3 by default): a UDP scan probes a few ports (nmap's "usual services").
   * horizontal_scan: distinct destinations of one source's UDP probes of one port that open an incident, in place of
   * the threshold (25 by default, Zeek's address scan; 0: the threshold): UDP clients send unanswered datagrams to a
   * handful of servers by design (P2P supernodes, QUIC and DNS servers, game servers; rules.ts subjectThreshold).
   */
  udpThreshold: number;
}

export type DetectorConfig = Record<DetectorName, DetectorSettings>;

const AUTH_PORTS = [21, 22, 23, 25, 110, 143, 465, 587, 993, 995, 1433, 3306, 3389, 5432, 5900, 6379];

const base = {
  enabled: true,
  memberCap: 1024,
  subjectCap: 100_000,
  evidenceCap: 100,
  ports: [] as number[],
  labels: [] as string[],
  maxSessionSeconds: 0,
  minPeriodSeconds: 0,
  maxJitter: 0,
  mergeSeconds: 0,
  credentialThreshold: 0,
  udpThreshold: 0,
};

export function defaultDetectorConfig(): DetectorConfig {
  return {
    // Zeek's scan policy uses 25 hosts / 15 ports in 5 min; the fleet sees probes that each host only sees once, so
    // fewer suffice over TCP (zeek/nmap-vsn.pcap probes 7 hosts on port 80). Over UDP, Zeek's 25: nDPI's benign
    // captures hold UDP clients that reach 5-11 hosts on one port without a reply (ARCHITECTURE).
    horizontal_scan: { ...base, threshold: 5, windowSeconds: 300, udpThreshold: 25 },
    // Slips opens a vertical scan at 5 ports of not-established TCP or UDP flows; UDP scans probe fewer (the lab's
    // nmap -sU tries 4-11 "usual" ports, of which the open ones answer), and benign captures show at most 2
    // unanswered UDP ports from one host to another (ARCHITECTURE).
    vertical_scan: { ...base, threshold: 10, windowSeconds: 300, udpThreshold: 3 },
    syn_flood: { ...base, threshold: 100, windowSeconds: 10, memberCap: 4096 },
    // Attempts (auth-attempts.ts: several passwords in one connection count each), as Zeek's FTP policy counts 20
    // failed logins. 10 found more of the lab's short hydra runs but also zeek/mysql/auth.pcap and a redis-benchmark
    // capture (short sessions to an auth port) in the shared benign captures.
    brute_force: {
      ...base,
      threshold: 20,
      windowSeconds: 300,
      ports: AUTH_PORTS,
      labels: ['bruteforce'],
      maxSessionSeconds: 30,
      credentialThreshold: 3,
    },
    beaconing: {
      ...base,
      threshold: 8,
      windowSeconds: 3600,
      memberCap: 64,
      minPeriodSeconds: 10,
      maxJitter: 0.1,
      mergeSeconds: 2,
    },
  };
}

const portList = z.array(z.number().int().min(1).max(65535)).max(1024);

/** One detector_config row as read from SQL (snake_case, params as JSON text). */
export const detectorConfigRow = z.object({
  detector: z.enum(DETECTORS, {
    errorMap: () => ({ message: `must be one of ${DETECTORS.join(', ')}` }),
  }),
  enabled: z.union([z.boolean(), z.number()]).transform((v) => v === true || v === 1),
  threshold: z.number().int().min(2, 'must be at least 2').max(1_000_000),
  window_seconds: z.number().int().min(1, 'must be at least 1').max(86_400, 'must be at most 86400 (a day)'),
  member_cap: z
    .number()
    .int()
    .min(2)
    .max(4096, "must be at most 4096 (a Lua script unpacks a window's members at once)"),
  subject_cap: z.number().int().min(1).max(10_000_000),
  evidence_cap: z.number().int().min(1).max(10_000),
  params: z
    .string()
    .nullable()
    .transform((text, ctx) => {
      if (text === null || text.trim() === '') return {};
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not JSON' });
        return z.NEVER;
      }
    })
    .pipe(
      z
        .object({
          ports: portList.optional(),
          labels: z.array(z.string().min(1).max(64)).max(64).optional(),
          max_session_seconds: z.number().min(0).max(86_400).optional(),
          min_period_seconds: z.number().min(0).max(86_400).optional(),
          max_jitter: z.number().min(0).max(1).optional(),
          merge_seconds: z.number().min(0).max(3600).optional(),
          credential_threshold: z
            .number()
            .int()
            .min(0)
            .max(4096)
            .refine((v) => v === 0 || v >= 2, 'must be 0 (off) or at least 2')
            .optional(),
          udp_threshold: z
            .number()
            .int()
            .min(0)
            .max(4096)
            .refine((v) => v === 0 || v >= 2, 'must be 0 (off) or at least 2')
            .optional(),
        })
        .strict(),
    ),
});

export class DetectorConfigError extends Error {
  override name = 'DetectorConfigError';
}

/** A row's settings; throws DetectorConfigError naming the detector, the column, its value and what is allowed. */
export function settingsFromRow(row: Record<string, unknown>, defaults: DetectorSettings): DetectorSettings {
  const parsed = detectorConfigRow.safeParse(row);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const column =
      issue.path[0] === 'params'
        ? `params${issue.path
            .slice(1)
            .map((p) => `.${p}`)
            .join('')}`
        : String(issue.path[0]);
    const value = issue.path[0] === undefined ? undefined : row[String(issue.path[0])];
    throw new DetectorConfigError(
      `detector_config row ${JSON.stringify(row.detector)}: ${column} = ${JSON.stringify(value)} ${issue.message}`,
    );
  }
  const r = parsed.data;
  if (r.member_cap < r.threshold && r.detector !== 'beaconing') {
    throw new DetectorConfigError(
      `detector_config row "${r.detector}": member_cap = ${r.member_cap} is under threshold = ${r.threshold}: the detector could never fire; raise member_cap`,
    );
  }
  if (r.detector === 'beaconing' && r.member_cap < r.threshold) {
    throw new DetectorConfigError(
      `detector_config row "beaconing": member_cap = ${r.member_cap} is under threshold = ${r.threshold}: too few starts kept to see a period; raise member_cap`,
    );
  }
  const p = r.params;
  const udpThreshold = p.udp_threshold ?? defaults.udpThreshold;
  if (r.member_cap < udpThreshold && r.detector !== 'beaconing') {
    throw new DetectorConfigError(
      `detector_config row "${r.detector}": member_cap = ${r.member_cap} is under params.udp_threshold = ${udpThreshold}: UDP probes could never open an incident; raise member_cap or lower udp_threshold`,
    );
  }
  return {
    enabled: r.enabled,
    threshold: r.threshold,
    windowSeconds: r.window_seconds,
    memberCap: r.member_cap,
    subjectCap: r.subject_cap,
    evidenceCap: r.evidence_cap,
    ports: p.ports ?? defaults.ports,
    labels: p.labels ?? defaults.labels,
    maxSessionSeconds: p.max_session_seconds ?? defaults.maxSessionSeconds,
    minPeriodSeconds: p.min_period_seconds ?? defaults.minPeriodSeconds,
    maxJitter: p.max_jitter ?? defaults.maxJitter,
    mergeSeconds: p.merge_seconds ?? defaults.mergeSeconds,
    credentialThreshold: p.credential_threshold ?? defaults.credentialThreshold,
    udpThreshold,
  };
}

/**
 * The config from the table's rows over the defaults: a detector without a row keeps its defaults, one whose row is
 * refused keeps `previous` (what ran before), and each refusal is returned for the log and the metric.
 */
export function configFromRows(
  rows: Array<Record<string, unknown>>,
  previous: DetectorConfig = defaultDetectorConfig(),
): { config: DetectorConfig; errors: DetectorConfigError[] } {
  const defaults = defaultDetectorConfig();
  const config = defaultDetectorConfig();
  const errors: DetectorConfigError[] = [];
  for (const row of rows) {
    const name = row.detector as DetectorName;
    try {
      const settings = settingsFromRow(row, defaults[name] ?? defaults.horizontal_scan);
      config[name] = settings;
    } catch (err) {
      if (!(err instanceof DetectorConfigError)) throw err;
      errors.push(err);
      if (DETECTORS.includes(name)) config[name] = previous[name];
    }
  }
  return { config, errors };
}
