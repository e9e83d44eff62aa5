/** Builds dist/ if it is missing or older than its sources; returns vite's exit status (0: nothing to do). */
export function ensureAppBuilt(log?: (line: string) => void): number;
