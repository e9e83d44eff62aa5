import { defineConfig } from 'vitest/config';

// Unit tests run in Node, next to their modules (`src/**/*.test.ts`, `signaling/**/*.test.ts`).
// Cross-tab behaviour is tested with real Chromium tabs in e2e/ (Playwright), not here.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'signaling/**/*.test.ts', 'scripts/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
