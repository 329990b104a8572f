import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1DataVolumeTemplateSpec, V1VirtualMachine, V1Volume } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { DataVolume } from './cdi.ts';
import { clonesReading, countUsage, imageRefsOfVM, parseDigestedImage, projectVM, type DataSourcePointer } from './usage.ts';
import type { ImageRef, ImageSpec, RecordedVersion } from './types.ts';

const image: ImageRef = { namespace: 'images', name: 'fedora', uid: 'u' };
const REPO = '127.0.0.1:5000/disks/fedora';
const digest = (c: string): string => `sha256:${c.repeat(64)}`;
const versions: RecordedVersion[] = [
  { name: 'v1', phase: 'Ready', digest: digest('1') },
  { name: 'v2', phase: 'Ready', digest: digest('2'), pvcName: 'fedora-v2' },
  { name: 'v3', phase: 'Ready', digest: digest('3') },
];
const spec: ImageSpec = { source: { registry: { repository: REPO } }, storage: { type: 'DataVolume', size: '1Gi' } };

function vm(namespace: string, name: string, volumes: V1Volume[], dataVolumeTemplates: V1DataVolumeTemplateSpec[] = []): V1VirtualMachine {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { namespace, name, uid: `${name}-uid`, labels: { big: 'x' }, annotations: { a: 'b' } },
    spec: {
      runStrategy: 'Always',
      ...(dataVolumeTemplates.length ? { dataVolumeTemplates } : {}),
      template: { metadata: { labels: { k: 'v' } }, spec: { domain: { devices: { disks: [{ name: 'root' }] }, memory: { guest: '1Gi' } }, volumes } },
    },
  };
}
const disk = (image: string, name = 'root'): V1Volume => ({ name, containerDisk: { image, imagePullPolicy: 'IfNotPresent' } });
const cloneOf = (name: string, source: V1DataVolumeTemplateSpec['spec']): V1DataVolumeTemplateSpec => ({ metadata: { name }, spec: { ...source, storage: { resources: { requests: { storage: '5Gi' } } } } });

describe('imageRefsOfVM', () => {
  it('collects containerDisks, cloned and mounted PVCs, and DataSources, without the VM own disks', () => {
    const refs = imageRefsOfVM(vm('apps', 'a', [disk(`${REPO}@${digest('1')}`), { name: 'root2', dataVolume: { name: 'a-root' } }, { name: 'shared', persistentVolumeClaim: { claimName: 'fedora-v2' } }], [
      cloneOf('a-root', { source: { pvc: { namespace: 'images', name: 'fedora-v1' } } }),
      cloneOf('a-data', { sourceRef: { kind: 'DataSource', name: 'fedora-stable', namespace: 'images' } }),
      cloneOf('a-local', { sourceRef: { kind: 'DataSource', name: 'local' } }),
    ]));
    expect(refs).toEqual({
      containerDisks: [`${REPO}@${digest('1')}`],
      pvcs: [{ namespace: 'apps', name: 'fedora-v2' }, { namespace: 'images', name: 'fedora-v1' }],
      dataSources: [{ namespace: 'apps', name: 'local' }, { namespace: 'images', name: 'fedora-stable' }],
    });
  });

  it('is kept whole by projectVM, which drops everything else (property)', () => {
    const name = fc.constantFrom('a', 'b', 'fedora-v1', 'fedora-v2');
    const ns = fc.option(fc.constantFrom('apps', 'images'), { nil: undefined });
    const volume = fc.oneof(
      fc.record({ name, containerDisk: fc.record({ image: fc.constantFrom(`${REPO}@${digest('1')}`, `${REPO}:42@${digest('2')}`, 'quay.io/x/y:latest') }) }),
      fc.record({ name, persistentVolumeClaim: fc.record({ claimName: name }) }),
      fc.record({ name, dataVolume: fc.record({ name }) }),
      fc.record({ name, emptyDisk: fc.constant({ capacity: '1Gi' }) }),
    );
    const template = fc.oneof(
      fc.record({ namespace: fc.constantFrom('apps', 'images'), name }).map((pvc) => cloneOf('t', { source: { pvc } })),
      fc.tuple(name, ns).map(([n, namespace]) => cloneOf('t2', { sourceRef: { kind: 'DataSource', name: n, ...(namespace ? { namespace } : {}) } })),
      fc.constant(cloneOf('t3', { source: { blank: {} } })),
    );
    fc.assert(
      fc.property(fc.array(volume, { maxLength: 5 }), fc.array(template, { maxLength: 3 }), (volumes, templates) => {
        const full = vm('apps', 'x', volumes, templates);
        const projected = projectVM(full);
        expect(imageRefsOfVM(projected)).toEqual(imageRefsOfVM(full));
        expect(projected.metadata).toEqual({ name: 'x', namespace: 'apps', uid: 'x-uid' });
        expect(JSON.stringify(projected)).not.toContain('memory');
        expect(JSON.stringify(projected).length).toBeLessThanOrEqual(JSON.stringify(full).length);
      }),
    );
  });
});

describe('parseDigestedImage', () => {
  it('strips a tag but not a registry port, and needs a digest', () => {
    expect(parseDigestedImage(`${REPO}@${digest('1')}`)).toEqual({ repository: REPO, digest: digest('1') });
    expect(parseDigestedImage(`${REPO}:f42@${digest('1')}`)).toEqual({ repository: REPO, digest: digest('1') });
    expect(parseDigestedImage(`${REPO}:f42`)).toBeUndefined();
    expect(parseDigestedImage('@sha256:x')).toBeUndefined();
  });
});

describe('countUsage', () => {
  const dataSources: DataSourcePointer[] = [
    { namespace: 'images', name: 'fedora-stable', pvc: { namespace: 'images', name: 'fedora-v3' } },
    { namespace: 'images', name: 'fedora-candidate', pvc: { name: 'fedora-v2' } },
    { namespace: 'images', name: 'empty' },
  ];
  it('counts containerDisk digests (tagged or not), PVC clones and DataSource clones, once per VM', () => {
    const vms = [
      vm('apps', 'a', [disk(`${REPO}@${digest('1')}`), disk(`${REPO}:f42@${digest('1')}`, 'b')]),
      vm('apps', 'b', [], [cloneOf('b-root', { source: { pvc: { namespace: 'images', name: 'fedora-v1' } } }), cloneOf('b-2', { sourceRef: { kind: 'DataSource', namespace: 'images', name: 'fedora-stable' } })]),
      vm('images', 'c', [], [cloneOf('c-root', { sourceRef: { kind: 'DataSource', name: 'fedora-candidate' } })]),
      vm('apps', 'd', [disk(`quay.io/other/fedora@${digest('2')}`)], [cloneOf('d-root', { source: { pvc: { namespace: 'apps', name: 'fedora-v1' } } })]),
      vm('images', 'e', [{ name: 'root', persistentVolumeClaim: { claimName: 'fedora-v2' } }]),
    ];
    expect(countUsage({ image, spec, versions, vms, dataSources })).toEqual(new Map([['v1', 2], ['v2', 2], ['v3', 1]]));
  });
  it('is zero for every version without VMs', () => {
    expect(countUsage({ image, spec, versions, vms: [], dataSources })).toEqual(new Map([['v1', 0], ['v2', 0], ['v3', 0]]));
  });
  it('counts the same on projected VMs (property)', () => {
    const ref = fc.oneof(
      fc.constantFrom('1', '2', '3', '4').map((c) => disk(`${REPO}@${digest(c)}`)),
      fc.constantFrom('fedora-v1', 'fedora-v2', 'fedora-v3').map((claimName) => ({ name: 'p', persistentVolumeClaim: { claimName } })),
    );
    fc.assert(
      fc.property(fc.array(fc.array(ref, { maxLength: 3 }), { maxLength: 6 }), (vols) => {
        const vms = vols.map((v, i) => vm('images', `vm${i}`, v));
        const counts = countUsage({ image, spec, versions, vms, dataSources });
        expect(countUsage({ image, spec, versions, vms: vms.map(projectVM), dataSources })).toEqual(counts);
        for (const n of counts.values()) expect(n).toBeLessThanOrEqual(vms.length);
      }),
    );
  });
});

describe('clonesReading', () => {
  const cloneDv = (namespace: string, phase: string, spec: DataVolume['spec']): DataVolume => ({ metadata: { namespace, name: 'dv' }, spec, status: { phase } });
  it('lists versions read by unfinished clones in any namespace, directly or through a DataSource', () => {
    const dvs = [
      cloneDv('apps', 'CloneInProgress', { source: { pvc: { namespace: 'images', name: 'fedora-v1' } } }),
      cloneDv('apps', 'Succeeded', { source: { pvc: { namespace: 'images', name: 'fedora-v2' } } }),
      cloneDv('images', 'CloneScheduled', { sourceRef: { kind: 'DataSource', name: 'fedora-stable' } }),
      cloneDv('apps', 'Failed', { sourceRef: { kind: 'DataSource', namespace: 'images', name: 'fedora-candidate' } }),
      cloneDv('apps', 'Pending', { source: { pvc: { namespace: 'apps', name: 'fedora-v2' } } }),
    ];
    const dataSources: DataSourcePointer[] = [
      { namespace: 'images', name: 'fedora-stable', pvc: { name: 'fedora-v3' } },
      { namespace: 'images', name: 'fedora-candidate', pvc: { name: 'fedora-v2' } },
    ];
    expect(clonesReading(dvs, image, versions, dataSources)).toEqual(new Set(['v1', 'v3']));
  });
});
