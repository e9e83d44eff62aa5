/**
 * Which model package a tab uses. The host page takes `?model=URL` (default the embedded package);
 * its join link carries the same `model=` so worker tabs load that package as soon as they join,
 * before any job names it. A worker accepts only a path on its own origin: a join link is shared
 * by hand, and the engine should never fetch a model from a third party because of one.
 */
import { DEFAULT_PACKAGE_URL } from './render-spec.js';

/** The join link the host shows: the server's link, plus `model=` when the package is not the default. */
export function joinLinkWithPackage(joinUrl: string, packageUrl: string): string {
  if (packageUrl === DEFAULT_PACKAGE_URL) return joinUrl;
  const url = new URL(joinUrl);
  url.searchParams.set('model', packageUrl);
  return url.toString();
}

/** The package a worker tab loads on joining: `model=` if it is a path on this origin, else the default. */
export function workerPackageUrl(search: string, pageUrl: string): string {
  const model = new URLSearchParams(search).get('model');
  if (!model) return DEFAULT_PACKAGE_URL;
  let url: URL;
  try {
    url = new URL(model, pageUrl);
  } catch {
    return DEFAULT_PACKAGE_URL;
  }
  return url.origin === new URL(pageUrl).origin && model.startsWith('/') ? url.pathname : DEFAULT_PACKAGE_URL;
}
