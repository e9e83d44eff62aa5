// Which Chromium the tests, `npm run generate` and the benchmarks drive, and how a fresh machine
// gets one. Order: CHROMIUM_PATH when set (it always wins), else Debian/Ubuntu's /usr/bin/chromium,
// else the Playwright-managed Chromium under ~/.cache/ms-playwright.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

export const SYSTEM_CHROMIUM = '/usr/bin/chromium';

/** Flags for every headless run: root in CI, SwiftShader WebGPU on GPU-less machines, real host
 *  ICE candidates instead of mDNS names, and no calls home on a closed network. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/** The Chromium binary Playwright itself installs and expects (it may not be there yet). */
function playwrightChromium() {
  try {
    const { chromium } = createRequire(import.meta.url)('@playwright/test');
    return chromium.executablePath();
  } catch {
    return null;
  }
}

/** The Chromium to use now, or null when none is on this machine. */
export function findChromium() {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null;
  if (existsSync(SYSTEM_CHROMIUM)) return SYSTEM_CHROMIUM;
  const managed = playwrightChromium();
  return managed && existsSync(managed) ? managed : null;
}

/** The path used when nothing is found, so that a launch error names a real candidate. */
export function chromiumPathOrDefault() {
  return findChromium() ?? process.env.CHROMIUM_PATH ?? SYSTEM_CHROMIUM;
}

function run(log, cmd, args) {
  log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status === 0;
}

/** apt-get as root, else through sudo that asks no password; null when neither is possible. */
function aptGet() {
  if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) return null;
  if (process.getuid?.() === 0) return (log, args) => run(log, 'apt-get', args);
  if (spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status !== 0) return null;
  return (log, args) => run(log, 'sudo', ['-n', 'apt-get', ...args]);
}

/**
 * A Chromium path, installing one when the machine has none: first Playwright's own download
 * (`playwright install chromium`), then Debian/Ubuntu's package through apt-get as root or with
 * passwordless sudo. Throws with what to do by hand when every way fails. A CHROMIUM_PATH that
 * points nowhere is an error, never silently replaced.
 */
export function ensureChromium(log = (line) => console.log(line)) {
  const found = findChromium();
  if (found) return found;
  const wanted = process.env.CHROMIUM_PATH;
  if (wanted) throw new Error(`CHROMIUM_PATH=${wanted} does not exist. Point it at a Chromium/Chrome 120+ binary, or unset it.`);

  log(`No Chromium found (${SYSTEM_CHROMIUM}, Playwright's ${playwrightChromium() ?? 'cache'}); installing one.`);
  log('Trying the Playwright-managed Chromium:');
  if (run(log, 'npx', ['playwright', 'install', 'chromium'])) {
    const managed = findChromium();
    if (managed) return managed;
  }

  const apt = aptGet();
  if (apt === null) {
    log('Cannot use apt-get: not on this machine, or not root and sudo asks for a password.');
  } else {
    log("Trying Debian/Ubuntu's chromium package:");
    if (apt(log, ['update', '-qq']) && apt(log, ['install', '-y', '-qq', 'chromium'])) {
      const packaged = findChromium();
      if (packaged) return packaged;
    }
  }
  throw new Error(
    `No Chromium at ${SYSTEM_CHROMIUM}, and installing one failed (see above).\n` +
      `Install Debian's Chromium (sudo apt-get install -y chromium), or point CHROMIUM_PATH at a\n` +
      `Chromium/Chrome binary (version 120+), then run the command again.`,
  );
}
