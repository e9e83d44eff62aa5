// Shared set-up for specs that need a room: a host tab plus N worker tabs, each in its own
// browser context (separate storage, like separate machines), all in one Chromium.
import { expect, type Browser, type Page } from '@playwright/test';
import type { ViTestHook } from '../src/app/testing/test-hook.js';

export function serverUrl(): string {
  const url = process.env.VI_E2E_URL;
  if (!url) throw new Error('VI_E2E_URL is not set: run through `npx playwright test` (e2e/global-setup.ts starts the server)');
  return url;
}

export interface Room {
  readonly host: Page;
  readonly workers: Page[];
  readonly joinUrl: string;
}

/** Logs page errors and console errors with the tab name, so failures are explainable. */
function watch(page: Page, name: string): void {
  page.on('pageerror', (e) => console.log(`[${name}] pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`[${name}] console.error: ${m.text()}`);
  });
}

/** Opens a tab in its own context; `requests` collects the path of every request it (or its workers) makes. */
export async function openTab(browser: Browser, url: string, name: string, requests?: string[]): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  watch(page, name);
  if (requests) page.context().on('request', (r) => requests.push(new URL(r.url()).pathname));
  await page.goto(url);
  return page;
}

export async function openRoom(browser: Browser, workerCount: number): Promise<Room> {
  const host = await openTab(browser, serverUrl(), 'host');
  await host.getByTestId('create-room').click();
  const joinUrl = await host.getByTestId('join-link').inputValue();
  expect(joinUrl).toMatch(/\?room=[\w-]+&token=[\w-]+$/);
  const workers = await Promise.all(Array.from({ length: workerCount }, (_, i) => openTab(browser, `${joinUrl}&name=w${i}`, `w${i}`)));
  for (const w of workers) await expect(w.getByTestId('worker-phase')).toHaveAttribute('data-phase', 'ready');
  await expect.poll(() => host.evaluate(() => window.__vi!.host!.readyWorkers().length)).toBe(workerCount);
  return { host, workers, joinUrl };
}

/** Runs `fn` with the same argument in every tab at once. */
export function inAll<A, R>(pages: Page[], fn: (hook: ViTestHook, arg: A) => R | Promise<R>, arg: A): Promise<R[]> {
  return Promise.all(
    pages.map((p) =>
      p.evaluate(
        ([src, a]) => {
          // eslint-disable-next-line @typescript-eslint/no-implied-eval
          const f = new Function(`return (${src})`)() as (h: ViTestHook, x: unknown) => unknown;
          return f(window.__vi!, a);
        },
        [fn.toString(), arg] as const,
      ),
    ),
  ) as Promise<R[]>;
}
