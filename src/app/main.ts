/**
 * Entry point and routing: the join link (`/?room=…&token=…`) opens the worker view, anything
 * else the host dashboard.
 */
import { workerPackageUrl } from './job/package-link.js';
import './vi-host.js';
import './vi-worker.js';

const params = new URLSearchParams(location.search);
const room = params.get('room');
const token = params.get('token');
const app = document.getElementById('app')!;

if (room && token) {
  const el = document.createElement('vi-worker');
  el.room = room;
  el.token = token;
  const name = params.get('name');
  if (name) el.name = name;
  el.packageUrl = workerPackageUrl(location.search, location.href);
  app.replaceChildren(el);
  history.replaceState(null, '', location.pathname + (name ? `?name=${encodeURIComponent(name)}` : '')); // keep the token out of the address bar and history
  installTestHooks('worker', null, el.service);
} else {
  const el = document.createElement('vi-host');
  app.replaceChildren(el);
  installTestHooks('host', el.service, null);
}

/** window.__vi, in the test build only (vite's 'test' mode): the production bundle has no hook code. */
function installTestHooks(...args: Parameters<typeof import('./testing/test-hook.js').installTestHook>): void {
  if (import.meta.env.MODE === 'test') void import('./testing/test-hook.js').then((m) => m.installTestHook(...args));
}
