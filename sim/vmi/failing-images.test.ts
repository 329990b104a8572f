import { describe, expect, it } from '@jest/globals';
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { bootSources, brokenSource, parseFailingImages } from './failing-images.ts';

const vmi = (images: string[]): V1VirtualMachineInstance => ({
  metadata: { name: 'web-0', namespace: 'apps' },
  spec: { domain: { devices: {} }, volumes: [...images.map((image, i) => ({ name: `disk${i}`, containerDisk: { image } })), { name: 'data', dataVolume: { name: 'web-0-root' } }] },
});
const vm = (pvc: { namespace?: string; name: string }): V1VirtualMachine => ({
  metadata: { name: 'web-0', namespace: 'apps' },
  spec: { template: { spec: { domain: { devices: {} } } }, dataVolumeTemplates: [{ metadata: { name: 'web-0-root' }, spec: { source: { pvc: pvc as { namespace: string; name: string } } } }] },
});

describe('parseFailingImages', () => {
  it('reads entries one per line or comma-separated, trimmed, blanks and repeats dropped', () => {
    expect(parseFailingImages(' sha256:aa \n\nregistry:5000/bad, fedora-v3 ,sha256:aa\n')).toEqual(['sha256:aa', 'registry:5000/bad', 'fedora-v3']);
  });

  it('reads nothing from an absent or empty value', () => {
    expect(parseFailingImages(undefined)).toEqual([]);
    expect(parseFailingImages(' ,\n ')).toEqual([]);
  });
});

describe('bootSources and brokenSource', () => {
  it('match a containerDisk image by any part of its reference', () => {
    const sources = bootSources(vmi(['127.0.0.1:5000/containerdisks/fedora@sha256:abc123']), undefined);
    expect(brokenSource(sources, ['sha256:abc'])).toEqual({ source: '127.0.0.1:5000/containerdisks/fedora@sha256:abc123', entry: 'sha256:abc' });
    expect(brokenSource(sources, ['sha256:def'])).toBeUndefined();
  });

  it('match the PVC a dataVolumeTemplate clones, the namespace defaulting to the VM’s', () => {
    expect(bootSources(vmi([]), vm({ name: 'fedora-20261101-043000-3f9a0c1b2d' }))).toEqual(['apps/fedora-20261101-043000-3f9a0c1b2d']);
    expect(brokenSource(bootSources(vmi([]), vm({ namespace: 'images', name: 'fedora-v2' })), ['images/fedora-v2'])?.entry).toBe('images/fedora-v2');
    expect(brokenSource(bootSources(vmi([]), vm({ namespace: 'images', name: 'fedora-v2' })), ['fedora-v3'])).toBeUndefined();
  });
});
