import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { staleImageDisks, type DiskView } from './image-disks.ts';
import { IMAGE_DISK_LABEL } from './names.ts';

const disk = (name: string, owner = 'vm-uid', labelled = true, createdAt = 0): DiskView => ({
  name,
  createdAt,
  ...(labelled ? { labels: { [IMAGE_DISK_LABEL]: 'root' } } : {}),
  ownerReferences: [{ uid: owner, kind: 'VirtualMachine', controller: true }],
});

describe('staleImageDisks', () => {
  it('keeps the disk the spec names and the one the running VMI still mounts, removes the rest', () => {
    const disks = [disk('web-0-root-aaaa', 'vm-uid', true, 1), disk('web-0-root-bbbb', 'vm-uid', true, 2), disk('web-0-root-cccc', 'vm-uid', true, 3)];
    expect(staleImageDisks({ uid: 'vm-uid', templates: ['web-0-root-cccc'], mountedByVMI: ['web-0-root-bbbb'] }, disks)).toEqual(['web-0-root-aaaa']);
    // After the restart the VMI mounts the new disk: the previous one goes too.
    expect(staleImageDisks({ uid: 'vm-uid', templates: ['web-0-root-cccc'], mountedByVMI: ['web-0-root-cccc'] }, disks)).toEqual(['web-0-root-aaaa', 'web-0-root-bbbb']);
  });
  it('never touches a disk without the image-disk label, another VM\'s, or one already being deleted', () => {
    const disks = [disk('web-0-root-cccc', 'vm-uid', true, 9), disk('data-0', 'vm-uid', false), disk('web-1-root-aaaa', 'other-uid'), { ...disk('web-0-root-dddd'), deletionTimestamp: '2026-12-01T00:00:00Z' }];
    expect(staleImageDisks({ uid: 'vm-uid', templates: ['web-0-root-cccc'], mountedByVMI: [] }, disks)).toEqual([]);
  });
  it('a VM read before its update (naming the old disk) never makes the newer disk stale', () => {
    const disks = [disk('web-0-root-old', 'vm-uid', true, 1), disk('web-0-root-new', 'vm-uid', true, 2)];
    expect(staleImageDisks({ uid: 'vm-uid', templates: ['web-0-root-old'], mountedByVMI: ['web-0-root-old'] }, disks)).toEqual([]);
    expect(staleImageDisks({ uid: 'vm-uid', templates: ['web-0-root-new'], mountedByVMI: ['web-0-root-new'] }, disks)).toEqual(['web-0-root-old']);
    // Nothing is stale while the spec's own disk is not in view.
    expect(staleImageDisks({ uid: 'vm-uid', templates: ['web-0-root-newest'], mountedByVMI: [] }, disks)).toEqual([]);
  });
  it('never names a disk the spec or the VMI uses (property)', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'd', 'e');
    fc.assert(fc.property(fc.array(name), fc.array(name), fc.array(fc.record({ name, owner: fc.constantFrom('vm-uid', 'x'), labelled: fc.boolean(), createdAt: fc.nat(5) })), (templates, mounted, ds) => {
      const stale = staleImageDisks({ uid: 'vm-uid', templates, mountedByVMI: mounted }, ds.map((d) => disk(d.name, d.owner, d.labelled, d.createdAt)));
      for (const s of stale) {
        expect(templates).not.toContain(s);
        expect(mounted).not.toContain(s);
        expect(ds.some((d) => d.name === s && d.owner === 'vm-uid' && d.labelled)).toBe(true);
      }
    }));
  });
});
