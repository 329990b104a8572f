import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { GoldenImageSpec, GoldenImageStatus } from '../../api/generated/types.ts';
import { isAvailable } from '../image/types.ts';
import { imageSharedWith, imageVersionOfVM, resolveFleetImage, type GoldenImageView } from './image.ts';

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


describe('resolveFleetImage', () => {
  type Recorded = NonNullable<GoldenImageStatus['versions']>[number];
  const registryImage = (versions: Recorded[], channels: NonNullable<GoldenImageStatus['channels']> = []): GoldenImageView => ({
    spec: {
      source: { registry: { repository: 'quay.io/containerdisks/fedora' } },
      versions: [{ name: 'pinned', digest: 'sha256:p1' }],
      channels: [{ name: 'stable', follows: 'latest' }, { name: 'candidate', version: 'pinned' }],
    },
    status: { versions, channels },
  });
  const dataVolumeImage = (versions: Recorded[], channels: NonNullable<GoldenImageStatus['channels']> = []): GoldenImageView => ({
    spec: { source: { http: { url: 'http://127.0.0.1/f.img', checksumURL: 'http://127.0.0.1/SUMS' } }, storage: { type: 'DataVolume', size: '10Gi' }, channels: [{ name: 'stable', follows: 'latest' }] },
    status: { versions, channels },
  });
  const byVersion = (version: string) => ({ name: 'fedora', version, volume: 'root' });
  const byChannel = (channel: string) => ({ name: 'fedora', channel, volume: 'root' });

  it.each(['Ready', 'Deprecated', 'Obsolete'] as const)('resolves a %s ContainerDisk version to repository@digest from status', (phase) => {
    const golden = registryImage([{ name: 'f42', digest: 'sha256:42', phase }]);
    expect(resolveFleetImage(byVersion('f42'), golden, 'ns', 'ns')).toEqual({ ok: true, image: { version: 'f42', phase, containerDisk: 'quay.io/containerdisks/fedora@sha256:42' } });
  });
  it('takes the pinned digest when status recorded none', () => {
    const golden = registryImage([{ name: 'pinned', phase: 'Ready' }]);
    expect(resolveFleetImage(byVersion('pinned'), golden, 'ns', 'ns')).toMatchObject({ ok: true, image: { containerDisk: 'quay.io/containerdisks/fedora@sha256:p1' } });
  });
  it('resolves a channel through status.channels, following or pinned alike', () => {
    const golden = registryImage([{ name: 'f41', digest: 'sha256:41', phase: 'Ready' }, { name: 'pinned', digest: 'sha256:p1', phase: 'Ready' }], [{ name: 'stable', version: 'f41' }, { name: 'candidate', version: 'pinned' }]);
    expect(resolveFleetImage(byChannel('stable'), golden, 'ns', 'ns')).toMatchObject({ ok: true, image: { version: 'f41', containerDisk: 'quay.io/containerdisks/fedora@sha256:41' } });
    expect(resolveFleetImage(byChannel('candidate'), golden, 'ns', 'ns')).toMatchObject({ ok: true, image: { version: 'pinned' } });
  });
  it('resolves a DataVolume version to its PVC in the image namespace', () => {
    const golden = dataVolumeImage([{ name: 'f42', checksum: 'sha256:42', phase: 'Ready', pvcName: 'fedora-f42' }], [{ name: 'stable', version: 'f42' }]);
    golden.spec.sharing = { namespaces: ['team'] };
    expect(resolveFleetImage(byChannel('stable'), golden, 'images', 'team')).toEqual({ ok: true, image: { version: 'f42', phase: 'Ready', pvc: { namespace: 'images', name: 'fedora-f42' } } });
  });

  const stalls: [string, GoldenImageView, ReturnType<typeof byVersion> | ReturnType<typeof byChannel>, string][] = [
    ['a channel missing from spec', registryImage([], [{ name: 'ghost', version: 'x' }]), byChannel('ghost'), 'ChannelNotFound'],
    ['a version neither spec nor status knows', registryImage([{ name: 'f41', digest: 'sha256:41', phase: 'Ready' }]), byVersion('f99'), 'VersionNotFound'],
    ['a channel pointing at a version nobody knows', registryImage([], [{ name: 'stable', version: 'gone' }]), byChannel('stable'), 'VersionNotFound'],
    ['a Failed version', registryImage([{ name: 'f42', phase: 'Failed', message: 'checksum mismatch' }]), byVersion('f42'), 'VersionFailed'],
    ['a Deleted version', registryImage([{ name: 'f40', digest: 'sha256:40', phase: 'Deleted', deletedAt: '2026-01-01T00:00:00Z' }]), byVersion('f40'), 'VersionDeleted'],
    ['ContainerDisk storage of a non-registry source', { spec: { source: { pvc: { name: 'disk' } } }, status: { versions: [{ name: 'v1', phase: 'Ready' }] } }, byVersion('v1'), 'UnsupportedStorage'],
  ];
  it.each(stalls)('stalls on %s', (_what, golden, image, reason) => {
    const r = resolveFleetImage(image, golden, 'ns', 'ns');
    expect(r).toMatchObject({ ok: false, wait: false, reason });
    if (!r.ok) expect(r.message).toMatch(/fedora/);
  });
  it('stalls with the status message of a Failed version', () => {
    const r = resolveFleetImage(byVersion('f42'), registryImage([{ name: 'f42', phase: 'Failed', message: 'checksum mismatch' }]), 'ns', 'ns');
    expect(!r.ok && r.message).toContain('checksum mismatch');
  });

  const waits: [string, GoldenImageView, ReturnType<typeof byVersion> | ReturnType<typeof byChannel>, string][] = [
    ['a channel status does not list yet', registryImage([]), byChannel('stable'), 'ChannelNotReady'],
    ['a channel recorded without a version', registryImage([], [{ name: 'stable' }]), byChannel('stable'), 'ChannelNotReady'],
    ['a pinned version status does not list yet', registryImage([]), byVersion('pinned'), 'VersionNotReady'],
    ['a Discovered version', registryImage([{ name: 'f42', digest: 'sha256:42', phase: 'Discovered' }]), byVersion('f42'), 'VersionNotReady'],
    ['an Importing version', dataVolumeImage([{ name: 'f42', phase: 'Importing', progress: '45.20%' }]), byVersion('f42'), 'VersionNotReady'],
    ['a Ready DataVolume version without its PVC recorded', dataVolumeImage([{ name: 'f42', phase: 'Ready' }]), byVersion('f42'), 'VersionNotReady'],
    ['a Ready ContainerDisk version without a digest', registryImage([{ name: 'f42', phase: 'Ready' }]), byVersion('f42'), 'VersionNotReady'],
  ];
  it.each(waits)('waits (not a stall) on %s', (_what, golden, image, reason) => {
    const r = resolveFleetImage(image, golden, 'ns', 'ns');
    expect(r).toMatchObject({ ok: false, wait: true, reason });
    if (!r.ok) expect(r.message).toMatch(/fedora/);
  });
  it('reports import progress while waiting', () => {
    const r = resolveFleetImage(byVersion('f42'), dataVolumeImage([{ name: 'f42', phase: 'Importing', progress: '45.20%' }]), 'ns', 'ns');
    expect(!r.ok && r.message).toContain('45.20%');
  });
  it('waits when the image has no status at all', () => {
    expect(resolveFleetImage(byChannel('stable'), { spec: registryImage([]).spec }, 'ns', 'ns')).toMatchObject({ ok: false, wait: true, reason: 'ChannelNotReady' });
  });

  it('checks sharing before anything else', () => {
    const golden = registryImage([{ name: 'f42', digest: 'sha256:42', phase: 'Ready' }]);
    expect(resolveFleetImage(byChannel('ghost'), golden, 'images', 'team')).toMatchObject({ ok: false, wait: false, reason: 'ImageNotShared' });
    expect(resolveFleetImage(byVersion('f42'), { ...golden, spec: { ...golden.spec, sharing: { namespaces: ['other'] } } }, 'images', 'team')).toMatchObject({ reason: 'ImageNotShared' });
    expect(resolveFleetImage(byVersion('f42'), { ...golden, spec: { ...golden.spec, sharing: { namespaces: ['team'] } } }, 'images', 'team')).toMatchObject({ ok: true });
    expect(resolveFleetImage(byVersion('f42'), { ...golden, spec: { ...golden.spec, sharing: { namespaces: ['*'] } } }, 'images', 'team')).toMatchObject({ ok: true });
  });

  const phases = ['Discovered', 'Importing', 'Ready', 'Failed', 'Deprecated', 'Obsolete', 'Deleted'] as const;
  it('resolves exactly the available phases, and waits exactly on the not-yet-imported ones (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...phases), fc.boolean(), fc.boolean(), (phase, dataVolume, viaChannel) => {
        const version: Recorded = { name: 'v1', phase, digest: 'sha256:11', pvcName: 'img-v1' };
        const golden = dataVolume ? dataVolumeImage([version], [{ name: 'stable', version: 'v1' }]) : registryImage([version], [{ name: 'stable', version: 'v1' }]);
        const r = resolveFleetImage(viaChannel ? byChannel('stable') : byVersion('v1'), golden, 'ns', 'ns');
        expect(r.ok).toBe(isAvailable({ phase }));
        expect(!r.ok && r.wait).toBe(phase === 'Discovered' || phase === 'Importing');
        if (r.ok) expect(dataVolume ? r.image.pvc : r.image.containerDisk).toBeDefined();
      }),
    );
  });
});

describe('imageSharedWith', () => {
  it('shares within the namespace always, across namespaces only as spec.sharing lists', () => {
    expect(imageSharedWith(golden, 'same', 'same')).toBe(true);
    expect(imageSharedWith(golden, 'images', 'team')).toBe(false);
    expect(imageSharedWith({ ...golden, sharing: { namespaces: ['team'] } }, 'images', 'team')).toBe(true);
    expect(imageSharedWith({ ...golden, sharing: { namespaces: ['*'] } }, 'images', 'any')).toBe(true);
  });
});

describe('imageVersionOfVM', () => {
  const view: GoldenImageView = {
    spec: { source: { registry: { repository: 'reg.example/disks/fedora' } } },
    status: { versions: [{ name: 'f41', digest: 'sha256:41', phase: 'Obsolete', pvcName: 'fedora-f41' }, { name: 'f42', digest: 'sha256:42', phase: 'Ready', pvcName: 'fedora-f42' }] },
  };
  const onDisk = (image: string) => ({ spec: { template: { spec: { volumes: [{ name: 'root', containerDisk: { image } }] } } } });
  it('finds the version by the containerDisk digest of the image volume, with or without a tag', () => {
    expect(imageVersionOfVM(onDisk('reg.example/disks/fedora@sha256:41'), 'root', view, 'images')).toEqual({ name: 'f41', phase: 'Obsolete' });
    expect(imageVersionOfVM(onDisk('reg.example/disks/fedora:41@sha256:42'), 'root', view, 'images')).toEqual({ name: 'f42', phase: 'Ready' });
    expect(imageVersionOfVM(onDisk('other.example/fedora@sha256:41'), 'root', view, 'images')).toBeUndefined();
    expect(imageVersionOfVM(onDisk('reg.example/disks/fedora:41'), 'root', view, 'images')).toBeUndefined();
  });
  it('finds the version by the PVC the image disk clones, in the image namespace only', () => {
    const cloning = (namespace: string) => ({ spec: { dataVolumeTemplates: [{ metadata: { name: 'web-0-root-aa' }, spec: { source: { pvc: { namespace, name: 'fedora-f41' } } } }], template: { spec: { volumes: [{ name: 'root', dataVolume: { name: 'web-0-root-aa' } }] } } } });
    expect(imageVersionOfVM(cloning('images'), 'root', view, 'images')).toEqual({ name: 'f41', phase: 'Obsolete' });
    expect(imageVersionOfVM(cloning('elsewhere'), 'root', view, 'images')).toBeUndefined();
  });
});
