import { describe, expect, it } from '@jest/globals';
import type { GoldenImageSpec } from '../../api/generated/types.ts';
import { imageSharedWith, resolveImage } from './image.ts';

const golden: GoldenImageSpec = {
  source: { registry: { repository: 'quay.io/containerdisks/fedora' } },
  versions: [
    { name: 'v41', digest: 'sha256:4141' },
    { name: 'v42', digest: 'sha256:4242' },
    { name: 'nodigest' },
  ],
  channels: [
    { name: 'stable', version: 'v41' },
    { name: 'candidate', follows: 'latest' },
    { name: 'broken', version: 'nodigest' },
  ],
};

describe('resolveImage', () => {
  it('resolves a pinned version to repository@digest', () => {
    expect(resolveImage({ name: 'fedora', version: 'v42', volume: 'root' }, golden, 'ns')).toEqual({ ok: true, image: { version: 'v42', containerDisk: 'quay.io/containerdisks/fedora@sha256:4242' } });
  });
  it('resolves a pinned channel', () => {
    expect(resolveImage({ name: 'fedora', channel: 'stable', volume: 'root' }, golden, 'ns')).toEqual({ ok: true, image: { version: 'v41', containerDisk: 'quay.io/containerdisks/fedora@sha256:4141' } });
  });
  it.each([
    [{ version: 'v9' }, 'VersionNotFound'],
    [{ channel: 'nope' }, 'ChannelNotFound'],
    [{ channel: 'candidate' }, 'ChannelNotPinned'],
    [{ channel: 'broken' }, 'VersionWithoutDigest'],
    [{}, 'VersionNotFound'],
  ])('refuses %j with %s and a message', (pick, reason) => {
    const r = resolveImage({ name: 'fedora', volume: 'root', ...pick }, golden, 'ns');
    expect(r).toMatchObject({ ok: false, reason });
    if (!r.ok) expect(r.message.length).toBeGreaterThan(10);
  });
  it('refuses DataVolume storage and non-registry sources for now', () => {
    expect(resolveImage({ name: 'f', version: 'v41', volume: 'root' }, { ...golden, storage: { type: 'DataVolume', size: '10Gi' } }, 'ns')).toMatchObject({ ok: false, reason: 'UnsupportedStorage' });
    expect(resolveImage({ name: 'f', version: 'v41', volume: 'root' }, { ...golden, source: { http: { url: 'http://x/y.img' } } }, 'ns')).toMatchObject({ ok: false, reason: 'UnsupportedStorage' });
  });
  it('checks sharing across namespaces', () => {
    expect(resolveImage({ name: 'f', namespace: 'images', version: 'v41', volume: 'root' }, golden, 'team')).toMatchObject({ ok: false, reason: 'ImageNotShared' });
    expect(resolveImage({ name: 'f', namespace: 'images', version: 'v41', volume: 'root' }, { ...golden, sharing: { namespaces: ['team'] } }, 'team')).toMatchObject({ ok: true });
    expect(imageSharedWith({ ...golden, sharing: { namespaces: ['*'] } }, 'images', 'any')).toBe(true);
    expect(imageSharedWith(golden, 'same', 'same')).toBe(true);
  });
});
