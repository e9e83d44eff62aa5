// `npm test`: the whole suite. Type check, unit tests (Node), then e2e tests in real headless
// Chromium tabs. Chromium is the system one (no browser download is possible offline).
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  console.error(
    `No Chromium at ${chromium}.\n` +
      `Install Debian's Chromium (sudo apt-get install -y chromium), or point CHROMIUM_PATH at a\n` +
      `Chromium/Chrome binary (version 120+), then run npm test again.`,
  );
  process.exit(2);
}

const steps = [
  ['npx', ['tsc', '--noEmit', '-p', 'tsconfig.json']],
  ['npx', ['vitest', 'run']],
  ['npx', ['playwright', 'test']],
];
for (const [cmd, args] of steps) {
  console.log(`\n> ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, CHROMIUM_PATH: chromium } });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
