// The line ZooKeeper writes for each ACL refusal (stack/zookeeper/AclRefusalLog.java), one per refused request,
// reads included, in the server's log (slf4j-simple: "<ms> [<thread>] WARN fleetcap.acl-refusal - " before it):
//
//   line        = *prefix "fleetcap-acl-refusal" 6( TAB field )
//   field       = "session=" ( "0x" 1*HEXDIG / "unknown" )
//               / "principal=" [ value *( "," value ) ]   ; the session's digest users (empty: anonymous)
//               / "ip=" value                             ; the client's address
//               / "permission=" perm *( "|" perm )        ; what ZooKeeper asked the ACL for
//               / "znode=" value                          ; the node (for create/delete: the child asked for)
//               / "kind=" ( "anonymous" / "other-principal" / "wrong-password" / "not-permitted" )
//   perm        = "read" / "write" / "create" / "delete" / "admin"
//   value       = *( unescaped / "\\" / "\," / "\t" / "\n" / "\r" / "\x" 2HEXDIG )
//
// The fields come in the order above. A principal is any bytes a client sent before ':' in addAuth, so the plugin
// escapes backslash, comma, tab, CR, LF and other control characters.

export const ZOOKEEPER_REFUSAL_MARK = 'fleetcap-acl-refusal\t';

export const zookeeperRefusalKinds = ['anonymous', 'other-principal', 'wrong-password', 'not-permitted'] as const;
export type ZookeeperRefusalKind = (typeof zookeeperRefusalKinds)[number];
const permissions = new Set(['read', 'write', 'create', 'delete', 'admin']);

export interface ZookeeperRefusal {
  session: string;
  /** Digest users of the session; empty for an anonymous one. */
  principals: string[];
  ip: string;
  permission: string;
  znode: string;
  kind: ZookeeperRefusalKind;
}

export class RefusalLineError extends Error {}

const fieldOrder = ['session', 'principal', 'ip', 'permission', 'znode', 'kind'] as const;

/** Splits on unescaped `sep` and unescapes each part. */
function splitValues(text: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === sep) {
      out.push(cur);
      cur = '';
    } else if (c === '\\') {
      const n = text[i + 1];
      if (n === '\\' || n === ',') cur += n;
      else if (n === 't') cur += '\t';
      else if (n === 'n') cur += '\n';
      else if (n === 'r') cur += '\r';
      else if (n === 'x' && /^[0-9a-f]{2}$/i.test(text.slice(i + 2, i + 4))) {
        cur += String.fromCharCode(Number.parseInt(text.slice(i + 2, i + 4), 16));
        i += 2;
      } else throw new RefusalLineError(`a backslash that escapes nothing at character ${i + 1} of "${text}"`);
      i++;
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/**
 * The refusal of a line that holds the mark, or null for any other line of the log. Throws RefusalLineError (what
 * is wrong and where) for a marked line that does not follow the grammar: a plugin of another version, a cut line.
 */
export function parseZookeeperRefusalLine(line: string): ZookeeperRefusal | null {
  const at = line.indexOf(ZOOKEEPER_REFUSAL_MARK);
  if (at < 0) return null;
  const fields = line.slice(at + ZOOKEEPER_REFUSAL_MARK.length).split('\t');
  if (fields.length !== fieldOrder.length)
    throw new RefusalLineError(`${fields.length} fields after "fleetcap-acl-refusal", expected ${fieldOrder.length}`);
  const values: Record<string, string> = {};
  fields.forEach((field, i) => {
    const name = fieldOrder[i]!;
    if (!field.startsWith(`${name}=`))
      throw new RefusalLineError(`field ${i + 1} is "${field.slice(0, 40)}", expected ${name}=…`);
    values[name] = field.slice(name.length + 1);
  });
  const session = values.session!;
  if (!/^(0x[0-9a-f]+|unknown)$/.test(session)) throw new RefusalLineError(`session=${session} is not 0x<hex>`);
  const permission = values.permission!;
  if (!permission.split('|').every((p) => permissions.has(p)))
    throw new RefusalLineError(`permission=${permission} is not read, write, create, delete or admin (| between)`);
  const kind = values.kind as ZookeeperRefusalKind;
  if (!zookeeperRefusalKinds.includes(kind))
    throw new RefusalLineError(`kind=${kind} is not one of ${zookeeperRefusalKinds.join(', ')}`);
  // An empty field is no principal for an anonymous session, one empty user name (addAuth of ":password") otherwise.
  const principals = values.principal === '' && kind === 'anonymous' ? [] : splitValues(values.principal!, ',');
  if (kind === 'anonymous' && principals.length > 0)
    throw new RefusalLineError(`kind=anonymous with ${principals.length} principal(s)`);
  const [ip] = splitValues(values.ip!, '\u0000');
  const [znode] = splitValues(values.znode!, '\u0000');
  if (!ip) throw new RefusalLineError('ip= is empty');
  if (!znode?.startsWith('/')) throw new RefusalLineError(`znode=${znode} is not a path`);
  return { session, principals, ip, permission, znode, kind };
}
