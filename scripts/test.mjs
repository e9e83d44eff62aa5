// `npm test`: the whole suite. Type check, unit tests (Node), then e2e tests in real headless
// Chromium tabs. A machine without a Chromium gets one first (scripts/chromium.mjs says how).
import { spawnSync } from 'node:child_process';
import { ensureChromium } from './chromium.mjs';

let chromium;
try {
  chromium = ensureChromium();
} catch (e) {
  console.error(e.message);
  process.exit(2);
}
console.log(`Chromium: ${chromium}`);

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
