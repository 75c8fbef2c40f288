// Debian's Chromium (apt-get install chromium; stack/install.sh installs it) driven by puppeteer-core, which never
// downloads a browser. The browser trusts exactly one certificate, the one the test's server presents (pinned by the
// SHA-256 of its public key), not every certificate as --ignore-certificate-errors would.
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

export const CHROMIUM = process.env.FLEETCAP_CHROMIUM ?? '/usr/bin/chromium';

/** The value Chromium's --ignore-certificate-errors-spki-list takes for the certificate in `certFile`. */
export function spkiPin(certFile: string): string {
  const cert = new X509Certificate(readFileSync(certFile));
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

export async function launchChromium(pinnedCertFile: string): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (bash stack/install.sh does)`);
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The tests run as root in a container: Chromium's sandbox needs user namespaces it may not have here.
    args: ['--no-sandbox', `--ignore-certificate-errors-spki-list=${spkiPin(pinnedCertFile)}`, '--no-first-run'],
  });
}
