import { defineConfig, devices } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPathOrDefault } from './scripts/chromium.mjs';

/**
 * E2E with the Chromium that scripts/chromium.mjs finds (CHROMIUM_PATH, /usr/bin/chromium, or
 * Playwright's own; `npm test` installs one first when there is none). Every spec in e2e/ runs in
 * one project; e2e/global-setup.ts builds the app and starts
 * the real signaling server on a free port (VI_E2E_URL), or reuses VI_E2E_URL if already set.
 * Specs that need their own static server (e2e/model-*.spec.ts) simply start it.
 */
export const CHROMIUM_PATH = chromiumPathOrDefault();
export { CHROMIUM_ARGS };

export default defineConfig({
  testDir: 'e2e',
  globalSetup: './e2e/global-setup.ts',
  // Two shared cores: one worker, tabs as browser contexts inside one Chromium.
  workers: 1,
  fullyParallel: false,
  timeout: 180_000,
  expect: { timeout: 30_000 },
  reporter: [['list']],
  // Several people may run suites in one checkout at once: PW_OUTPUT_DIR keeps their artifacts
  // apart; traces cost CPU on two shared cores, so they are opt-in (PW_TRACE=1).
  outputDir: process.env.PW_OUTPUT_DIR ?? 'test-results',
  use: {
    trace: process.env.PW_TRACE ? 'retain-on-failure' : 'off',
    launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS },
  },
  projects: [{ name: 'chromium', use: { ...devices['Desktop Chrome'], launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS } } }],
});
