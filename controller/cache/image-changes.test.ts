import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { GoldenImageSpec, GoldenImageStatus } from '../api/generated/types.ts';
import type { GoldenImage } from '../api/objects.ts';
import { resolveFleetImage } from '../core/fleet/image.ts';
import { fleetImageFingerprint, ImageChanges } from './image-changes.ts';

type Recorded = NonNullable<GoldenImageStatus['versions']>[number];
const spec: GoldenImageSpec = { source: { registry: { repository: 'quay.io/containerdisks/fedora' } }, channels: [{ name: 'stable', follows: 'latest' }] };
const image = (versions: Recorded[], over: Partial<GoldenImage> = {}): GoldenImage => ({
  metadata: { namespace: 'ns', name: 'fedora' },
  spec,
  status: { versions, channels: [{ name: 'stable', version: versions.at(-1)?.name ?? '' }] },
  ...over,
});

describe('ImageChanges', () => {
  it('ignores use counts, sees versions, channels and spec', () => {
    const changes = new ImageChanges();
    const v1: Recorded = { name: 'v1', digest: 'sha256:1', phase: 'Ready', usedBy: 0 };
    expect(changes.changed('add', image([v1]))).toBe(true);
    expect(changes.changed('update', image([{ ...v1, usedBy: 5 }]))).toBe(false);
    expect(changes.changed('update', image([{ ...v1, usedBy: 5, phase: 'Deprecated' }]))).toBe(true);
    expect(changes.changed('update', image([{ ...v1, phase: 'Deprecated' }, { name: 'v2', digest: 'sha256:2', phase: 'Ready' }]))).toBe(true);
    expect(changes.changed('update', image([{ ...v1, phase: 'Deprecated' }, { name: 'v2', digest: 'sha256:2', phase: 'Ready' }], { spec: { ...spec, deprecations: [{ version: 'v1', state: 'Obsolete' }] } }))).toBe(true);
    expect(changes.changed('delete', image([]))).toBe(true);
    expect(changes.size).toBe(0);
  });

  it('filters only events that cannot change what a fleet resolves (property: use counts never matter)', () => {
    const version = fc.record({
      name: fc.constantFrom('v1', 'v2', 'v3'),
      digest: fc.option(fc.constantFrom('sha256:1', 'sha256:2'), { nil: undefined }),
      pvcName: fc.option(fc.constantFrom('disk-v1', 'disk-v2'), { nil: undefined }),
      phase: fc.constantFrom('Discovered', 'Importing', 'Ready', 'Failed', 'Deprecated', 'Obsolete', 'Deleted'),
      usedBy: fc.nat(20),
    });
    const storage = fc.constantFrom<GoldenImageSpec['storage']>(undefined, { type: 'DataVolume', size: '10Gi' });
    const ref = fc.oneof(fc.constantFrom('v1', 'v2', 'v3', 'v4').map((v) => ({ name: 'fedora', version: v, volume: 'root' })), fc.constant({ name: 'fedora', channel: 'stable', volume: 'root' }));
    fc.assert(fc.property(fc.array(version, { maxLength: 5 }), fc.array(fc.nat(20), { minLength: 5, maxLength: 5 }), storage, ref, (versions, counts, storageSpec, fleetImage) => {
      const a = image(versions as Recorded[], { spec: { ...spec, ...(storageSpec ? { storage: storageSpec } : {}) } });
      const b = { ...a, status: { ...a.status, versions: (versions as Recorded[]).map((v, i) => ({ ...v, usedBy: counts[i]! })) } };
      expect(fleetImageFingerprint(a)).toBe(fleetImageFingerprint(b));
      expect(resolveFleetImage(fleetImage, a, 'ns', 'ns')).toEqual(resolveFleetImage(fleetImage, b, 'ns', 'ns'));
    }));
  });
});
