/** The production build (`npm start`, `npm run generate`) and the test build (e2e, bench:net; the only one with test hooks). */
export const APP_DIST: string;
export const TEST_DIST: string;
/** Builds the app (with `test`, the test build) if it is missing or older than its sources; returns vite's exit status (0: nothing to do). */
export function ensureAppBuilt(log?: (line: string) => void, options?: { test?: boolean }): number;
