import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { tryParseQuantity as parseQuantity } from '../quantity.ts';
import { semanticEqual } from '../semantic.ts';
import { classifyChange, type VMShape } from './classify.ts';
import { desiredVM } from './desired.ts';
import type { ResolvedImage } from './image.ts';

function vm(over: { sockets?: number; maxSockets?: number; guest?: string; nodeSelector?: Record<string, string>; image?: string; labels?: Record<string, string>; dv?: string; runStrategy?: string; multiqueue?: boolean; tolerations?: { key: string }[] } = {}): VMShape {
  return {
    metadata: { labels: over.labels ?? { app: 'web' } },
    spec: {
      runStrategy: over.runStrategy ?? 'Always',
      ...(over.dv ? { dataVolumeTemplates: [{ metadata: { name: 'd' }, spec: { source: { http: { url: over.dv } } } }] } : {}),
      template: {
        spec: {
          nodeSelector: over.nodeSelector,
          tolerations: over.tolerations,
          domain: {
            cpu: { sockets: over.sockets ?? 1, ...(over.maxSockets ? { maxSockets: over.maxSockets } : {}) },
            memory: { guest: over.guest ?? '1Gi' },
            devices: { networkInterfaceMultiqueue: over.multiqueue },
          },
          volumes: [{ name: 'root', containerDisk: { image: over.image ?? 'img@sha256:1' } }],
        },
      },
    },
  };
}

describe('classifyChange', () => {
  it('identical → none', () => expect(classifyChange(vm(), vm())).toEqual({ kind: 'none', reasons: [] }));
  it('labels only → metadata; extra labels on the VM are ignored', () => {
    expect(classifyChange(vm(), vm({ labels: { app: 'api' } })).kind).toBe('metadata');
    expect(classifyChange(vm({ labels: { app: 'web', 'kubevirt.io/x': 'y' } }), vm()).kind).toBe('none');
  });
  it('placement → liveUpdatable', () => {
    expect(classifyChange(vm(), vm({ nodeSelector: { zone: 'a' } })).kind).toBe('liveUpdatable');
    expect(classifyChange(vm(), vm({ tolerations: [{ key: 'k' }] })).kind).toBe('liveUpdatable');
  });
  it('CPU sockets: raised within maxSockets live, beyond or reduced restart', () => {
    expect(classifyChange(vm({ sockets: 1 }), vm({ sockets: 4 })).kind).toBe('liveUpdatable');
    expect(classifyChange(vm({ sockets: 1 }), vm({ sockets: 5 })).kind).toBe('restartRequired');
    expect(classifyChange(vm({ sockets: 2, maxSockets: 3 }), vm({ sockets: 3 })).kind).toBe('liveUpdatable');
    expect(classifyChange(vm({ sockets: 2 }), vm({ sockets: 1 })).kind).toBe('restartRequired');
    expect(classifyChange(vm({ sockets: 1 }), vm({ sockets: 2, multiqueue: true })).kind).toBe('restartRequired');
  });
  it('memory.guest: raised within maxGuest live (migratable only), else restart; spelling ignored', () => {
    expect(classifyChange(vm({ guest: '1Gi' }), vm({ guest: '2Gi' })).kind).toBe('liveUpdatable');
    expect(classifyChange(vm({ guest: '1Gi' }), vm({ guest: '2Gi' }), { liveMigratable: false }).kind).toBe('restartRequired');
    expect(classifyChange(vm({ guest: '1Gi' }), vm({ guest: '5Gi' })).kind).toBe('restartRequired');
    expect(classifyChange(vm({ guest: '2Gi' }), vm({ guest: '1Gi' })).kind).toBe('restartRequired');
    expect(classifyChange(vm({ guest: '1Gi' }), vm({ guest: '1024Mi' })).kind).toBe('none');
  });
  it('image or any other template field → restartRequired', () => {
    const c = classifyChange(vm(), vm({ image: 'img@sha256:2', labels: { app: 'x' } }));
    expect(c.kind).toBe('restartRequired');
    expect(c.reasons).toEqual(['a non-live-updatable field of spec.template.spec changed', 'labels changed']);
  });
  it('dataVolumeTemplates → recreate, above everything', () => {
    expect(classifyChange(vm({ dv: 'http://a' }), vm({ dv: 'http://b', image: 'other' })).kind).toBe('recreate');
  });
  it('runStrategy → liveUpdatable (KubeVirt acts on the applied spec)', () => {
    expect(classifyChange(vm(), vm({ runStrategy: 'Halted' })).kind).toBe('liveUpdatable');
  });
  it('ignores fields KubeVirt defaults when the template leaves them unset', () => {
    const current = vm();
    current.spec.template.spec!.domain.machine = { type: 'q35' };
    current.spec.template.spec!.domain.firmware = { uuid: 'u' };
    expect(classifyChange(current, vm()).kind).toBe('none');
    const desired = vm();
    desired.spec.template.spec!.domain.machine = { type: 'pc' };
    expect(classifyChange(current, desired).kind).toBe('restartRequired');
  });

  const selector = fc.dictionary(fc.constantFrom('zone', 'rack', 'gpu'), fc.constantFrom('a', 'b'));
  const small = fc.record({ sockets: fc.integer({ min: 1, max: 4 }), guest: fc.constantFrom('1Gi', '2Gi', '512Mi'), image: fc.constantFrom('i1', 'i2'), nodeSelector: selector, labels: fc.dictionary(fc.constantFrom('a', 'b'), fc.constantFrom('x', 'y')) });
  it('identical VMs never differ (property)', () => {
    fc.assert(fc.property(small, (o) => expect(classifyChange(vm(o), vm(o)).kind).toBe('none')));
  });
  it('placement-only changes are never restartRequired (property)', () => {
    fc.assert(
      fc.property(small, selector, fc.array(fc.record({ key: fc.constantFrom('t1', 't2') }), { maxLength: 2 }), (o, ns, tol) => {
        const c = classifyChange(vm(o), vm({ ...o, nodeSelector: ns, tolerations: tol }));
        expect(['none', 'liveUpdatable']).toContain(c.kind);
      }),
    );
  });
  it('metadata-only changes are metadata or none (property)', () => {
    fc.assert(fc.property(small, fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.constantFrom('x', 'z')), (o, labels) => expect(['none', 'metadata']).toContain(classifyChange(vm(o), vm({ ...o, labels })).kind)));
  });
  it('an image change is always at least restartRequired (property)', () => {
    fc.assert(fc.property(small, small, (a, b) => {
      fc.pre(a.image !== b.image);
      expect(['restartRequired', 'recreate']).toContain(classifyChange(vm(a), vm(b)).kind);
    }));
  });
});

describe('helpers', () => {
  it('semanticEqual treats empty values alike', () => {
    expect(semanticEqual({ a: [] }, {})).toBe(true);
    expect(semanticEqual({ a: null }, { a: {} })).toBe(true);
    expect(semanticEqual([1], [2])).toBe(false);
  });
  it('parseQuantity', () => {
    expect(parseQuantity('1Gi')).toBe(2 ** 30);
    expect(parseQuantity('2G')).toBe(2e9);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(parseQuantity('x')).toBeUndefined();
  });
});

describe('classifyChange of a new image version (desired VMs from desiredVM)', () => {
  const template = {
    metadata: { labels: { app: 'web' } },
    spec: {
      dataVolumeTemplates: [{ metadata: { name: 'data' }, spec: { storage: { resources: { requests: { storage: '1Gi' } } }, source: { blank: {} } } }],
      template: { spec: { domain: { devices: {} }, volumes: [{ name: 'root', containerDisk: { image: 'placeholder' } }, { name: 'scratch', dataVolume: { name: 'data' } }] } },
    },
  };
  const desired = (image: ResolvedImage) =>
    desiredVM({ fleet: { name: 'web', namespace: 'team', uid: 'u' }, spec: { template, image: { name: 'img', volume: 'root', version: image.version } }, image, index: 1, revision: 'r' });
  const onDisk = (version: string, phase: ResolvedImage['phase'] = 'Ready'): ResolvedImage => ({ version, phase, pvc: { namespace: 'images', name: `img-${version}` } });
  const inRegistry = (version: string): ResolvedImage => ({ version, containerDisk: `reg/img@sha256:${version}` });

  it('a DataVolume image on a new version: restartRequired onto the new disk, the VM and its other disks kept', () => {
    expect(classifyChange(desired(onDisk('v1')), desired(onDisk('v2')), { imageVolume: 'root' })).toMatchObject({ kind: 'restartRequired', reasons: expect.arrayContaining(['the image disk changed (a new image version)']) });
  });
  it('without knowing the image volume, or with another template changed too: recreate', () => {
    expect(classifyChange(desired(onDisk('v1')), desired(onDisk('v2')))).toMatchObject({ kind: 'recreate', reasons: expect.arrayContaining(['spec.dataVolumeTemplates changed']) });
    const other = desired(onDisk('v2'));
    other.spec.dataVolumeTemplates![0]!.spec.storage = { resources: { requests: { storage: '2Gi' } } };
    expect(classifyChange(desired(onDisk('v1')), other, { imageVolume: 'root' }).kind).toBe('recreate');
  });
  it('a ContainerDisk image on a new version: restartRequired', () => {
    expect(classifyChange(desired(inRegistry('v1')), desired(inRegistry('v2'))).kind).toBe('restartRequired');
  });
  it('moving between ContainerDisk and DataVolume storage: a restart onto the new disk', () => {
    expect(classifyChange(desired(inRegistry('v1')), desired(onDisk('v1')), { imageVolume: 'root' }).kind).toBe('restartRequired');
  });
  it('the same version, deprecated or made obsolete since: nothing to do', () => {
    expect(classifyChange(desired(onDisk('v1', 'Ready')), desired(onDisk('v1', 'Obsolete'))).kind).toBe('none');
  });
});

