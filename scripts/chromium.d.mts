export const SYSTEM_CHROMIUM: string;
/** Flags for every headless run (root, SwiftShader WebGPU, real ICE host candidates, no calls home). */
export const CHROMIUM_ARGS: string[];
/** The Chromium to use now (CHROMIUM_PATH, else /usr/bin/chromium, else Playwright's), or null. */
export function findChromium(): string | null;
/** findChromium(), or the path a launch error should name when there is none. */
export function chromiumPathOrDefault(): string;
/** A Chromium path, installing one (Playwright's download, else apt-get) when there is none; throws if all fail. */
export function ensureChromium(log?: (line: string) => void): string;
