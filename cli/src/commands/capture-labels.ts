// Labels of real captures used as training and evaluation data (model/capture-labels.json): every session of a
// capture folder given to `fleetcap dataset export --captures DIR` is benign, except in the few files the label
// file names. Each entry is keyed "<source>/<path inside the source folder>" and gives the class of its sessions,
// optionally refined by rules (the first rule whose match fits a session gives its class). Every entry and rule
// says why: the file is reviewed data, not configuration.
import { readFileSync } from 'node:fs';
import type { Session } from '@fleetcap/lib/session/sessionizer';
import { z } from 'zod';

export const DEFAULT_CAPTURE_CLASS = 'benign';

const matchSchema = z
  .object({
    proto: z.enum(['tcp', 'udp']).optional(),
    /** Addresses of the session's initiator. */
    client: z.array(z.string()).min(1).optional(),
    server: z.array(z.string()).min(1).optional(),
    clientPort: z.array(z.number().int()).min(1).optional(),
    serverPort: z.array(z.number().int()).min(1).optional(),
  })
  .strict();

const ruleSchema = z.object({ match: matchSchema, class: z.string().min(1), why: z.string().min(1) }).strict();

const entrySchema = z
  .object({
    class: z.string().min(1),
    why: z.string().min(1),
    rules: z.array(ruleSchema).optional(),
  })
  .strict();

export const captureLabelsSchema = z
  .object({
    about: z.string().optional(),
    files: z.record(z.string().regex(/^[^/]+\/.+/, 'keys are "<source>/<path>"'), entrySchema),
  })
  .strict();

export type CaptureLabels = z.infer<typeof captureLabelsSchema>;
type Match = z.infer<typeof matchSchema>;

export function parseCaptureLabels(json: unknown, where: string): CaptureLabels {
  const parsed = captureLabelsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

export function readCaptureLabels(path: string): CaptureLabels {
  return parseCaptureLabels(JSON.parse(readFileSync(path, 'utf8')), path);
}

type SessionEnds = Pick<Session, 'proto' | 'src' | 'dst' | 'sport' | 'dport'>;

function fits(m: Match, s: SessionEnds): boolean {
  return (
    (m.proto === undefined || m.proto === s.proto) &&
    (m.client === undefined || m.client.includes(s.src)) &&
    (m.server === undefined || m.server.includes(s.dst)) &&
    (m.clientPort === undefined || m.clientPort.includes(s.sport)) &&
    (m.serverPort === undefined || m.serverPort.includes(s.dport))
  );
}

/** The class of every session of one capture file: benign unless the label file says otherwise. */
export class CaptureLabeler {
  constructor(private readonly labels: CaptureLabels = { files: {} }) {}

  /** True when the label file has an entry for this file. */
  has(key: string): boolean {
    return key in this.labels.files;
  }

  labelOf(key: string, session: SessionEnds): string {
    const entry = this.labels.files[key];
    if (!entry) return DEFAULT_CAPTURE_CLASS;
    for (const rule of entry.rules ?? []) if (fits(rule.match, session)) return rule.class;
    return entry.class;
  }

  /** Entries of the given sources that name no file that was read: a typo or a moved file. */
  unmatched(sources: ReadonlySet<string>, seen: ReadonlySet<string>): string[] {
    return Object.keys(this.labels.files).filter((k) => sources.has(k.split('/')[0]!) && !seen.has(k));
  }
}
