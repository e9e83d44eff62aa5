import { describe, expect, it } from 'vitest';
import { joinLinkWithPackage, workerPackageUrl } from './package-link.js';
import { DEFAULT_PACKAGE_URL } from './render-spec.js';

const page = 'https://gpu-host.lan:8443/?room=r&token=t';

describe('package link', () => {
  it('the join link carries a non-default package, and a worker reads it back', () => {
    const join = 'https://gpu-host.lan:8443/?room=r&token=t';
    expect(joinLinkWithPackage(join, DEFAULT_PACKAGE_URL)).toBe(join);
    const withModel = joinLinkWithPackage(join, '/models/other/');
    expect(withModel).toBe(`${join}&model=%2Fmodels%2Fother%2F`);
    expect(workerPackageUrl(new URL(withModel).search, withModel)).toBe('/models/other/');
  });

  it('a worker loads only a path on its own origin', () => {
    expect(workerPackageUrl('', page)).toBe(DEFAULT_PACKAGE_URL);
    for (const bad of ['https://evil.example/models/x/', '//evil.example/models/x/', 'models/x/', 'javascript:alert(1)']) {
      expect(workerPackageUrl(`?model=${encodeURIComponent(bad)}`, page), bad).toBe(DEFAULT_PACKAGE_URL);
    }
  });
});
