// How fleetcap hashes the credentials it stores and checks the ones it is given, in one place, so that every
// checker keeps the same two rules: the hash fits the secret's entropy, and a check takes the same time whether the
// credential is right, wrong, or there is none to check against.
// - A person's password (console_user): argon2id with its library defaults (19 MiB, 2 passes, 1 lane, OWASP's
//   recommended minimum, ~30 ms here): a password has little entropy, so the hash must be slow and memory-hard to
//   guess offline. The hash is a PHC string: salt and parameters travel with it, so raising them later still
//   verifies old rows.
// - A machine secret (agent upload tokens, the forecast bearer, development tokens): 256 bits from the CSPRNG, so an
//   offline guess is 2^256 work whatever the hash; SHA-256, since a slow hash would cost every upload tens of ms.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';

export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

/** A hash of a random password, made once: what a check with no stored hash is run against. */
let decoyHash: Promise<string> | undefined;

/**
 * Whether the password is the one `passwordHash` was made of. With no hash (an unknown account) the password is
 * still checked, against a decoy, so that timing does not tell which accounts exist. A hash that is not an argon2
 * PHC string (a row edited by hand) verifies nothing instead of throwing.
 */
export async function verifyPassword(passwordHash: string | null, password: string): Promise<boolean> {
  if (passwordHash === null) {
    decoyHash ??= hashPassword(randomBytes(18).toString('base64url'));
    await verify(await decoyHash, password).catch(() => false);
    return false;
  }
  if (!passwordHash.startsWith('$argon2')) return false;
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** What a table stores for a machine secret (agent_credential.token_sha256). */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const NOTHING = sha256('\0nothing expected');

/**
 * Whether `given` is the secret whose SHA-256 is `expected`, in constant time (digests of equal length are compared),
 * and compared even when nothing is expected (undefined), so that timing does not tell whether anything was.
 */
export function matchesDigest(given: string, expected: Buffer | undefined): boolean {
  const same = timingSafeEqual(sha256(given), expected ?? NOTHING);
  return expected !== undefined && same;
}
