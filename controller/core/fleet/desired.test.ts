import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { VMFleetSpec } from '../../api/generated/types.ts';
import { IMAGE_DATA_VOLUME_HASH_LENGTH, desiredVM, imageDataVolumeName, type DesiredVMInput } from './desired.ts';
import { isArgoCdTrackingKey } from './names.ts';

const fleet = { name: 'web', namespace: 'team', uid: 'uid-1' };
const image = { version: 'v42', containerDisk: 'quay.io/fedora@sha256:42' };

function spec(over: Partial<VMFleetSpec> = {}): Pick<VMFleetSpec, 'template' | 'image' | 'nameGeneration'> {
  return {
    image: { name: 'fedora', version: 'v42', volume: 'root' },
    template: {
      metadata: { labels: { app: 'web', 'app.kubernetes.io/instance': 'argo-app' }, annotations: { 'argocd.argoproj.io/tracking-id': 't', note: 'n' } },
      spec: {
        runStrategy: 'Always',
        dataVolumeTemplates: [{ metadata: { name: 'data', labels: { 'argocd.argoproj.io/x': 'y' } }, spec: { storage: {} } }],
        template: {
          metadata: { labels: { app: 'web', 'app.kubernetes.io/instance': 'argo-app' } },
          spec: {
            domain: { devices: {} },
            accessCredentials: [
              { sshPublicKey: { source: { secret: { secretName: 'keys' } }, propagationMethod: { noCloud: {} } } },
              { userPassword: { source: { secret: { secretName: 'pw' } }, propagationMethod: { qemuGuestAgent: {} } } },
            ],
            volumes: [
              { name: 'root', containerDisk: { image: 'placeholder', imagePullPolicy: 'IfNotPresent' } },
              { name: 'ci', cloudInitNoCloud: { secretRef: { name: 'userdata' }, networkDataSecretRef: { name: 'netdata' } } },
              { name: 'cd', cloudInitConfigDrive: { secretRef: { name: 'cd-user' } } },
              { name: 'sec', secret: { secretName: 'creds' } },
              { name: 'cm', configMap: { name: 'settings' } },
              { name: 'sp', sysprep: { configMap: { name: 'unattend' } } },
              { name: 'disk', dataVolume: { name: 'data' } },
            ],
          },
        },
      },
    },
    ...over,
  } as Pick<VMFleetSpec, 'template' | 'image' | 'nameGeneration'>;
}

const input = (over: Partial<DesiredVMInput> = {}): DesiredVMInput => ({ fleet, spec: spec(), image, index: 3, revision: 'rev1', ...over });

describe('desiredVM', () => {
  it('names, labels and owns the VM', () => {
    const vm = desiredVM(input());
    expect(vm.metadata).toMatchObject({ name: 'web-3', namespace: 'team' });
    expect(vm.metadata?.labels).toEqual({ app: 'web', 'virtfleet.io/fleet': 'web', 'virtfleet.io/revision': 'rev1', 'virtfleet.io/index': '3' });
    expect(vm.metadata?.annotations).toEqual({ note: 'n' });
    expect(vm.metadata?.ownerReferences).toEqual([{ apiVersion: 'virtfleet.io/v1alpha1', kind: 'VMFleet', name: 'web', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    expect(vm.spec.template.metadata).toEqual({ labels: { app: 'web', 'virtfleet.io/fleet': 'web', 'virtfleet.io/index': '3' } });
  });
  it('fills the image volume, keeping its other containerDisk fields', () => {
    const vm = desiredVM(input());
    expect(vm.spec.template.spec?.volumes?.[0]).toEqual({ name: 'root', containerDisk: { image: 'quay.io/fedora@sha256:42', imagePullPolicy: 'IfNotPresent' } });
  });
  it('replaces a non-containerDisk source of the image volume', () => {
    const s = spec({ image: { name: 'f', version: 'v', volume: 'sec' } });
    const vol = desiredVM(input({ spec: s })).spec.template.spec?.volumes?.find((v) => v.name === 'sec');
    expect(vol).toEqual({ name: 'sec', containerDisk: { image: 'quay.io/fedora@sha256:42' } });
  });
  it('indexes dataVolumeTemplates and their volumes always', () => {
    const vm = desiredVM(input());
    expect(vm.spec.dataVolumeTemplates?.[0]?.metadata).toEqual({ name: 'data-3' });
    expect(vm.spec.template.spec?.volumes?.find((v) => v.name === 'disk')?.dataVolume?.name).toBe('data-3');
  });
  it('leaves secret and config map references alone by default', () => {
    const vols = desiredVM(input()).spec.template.spec?.volumes ?? [];
    expect(vols.find((v) => v.name === 'sec')?.secret?.secretName).toBe('creds');
    expect(vols.find((v) => v.name === 'cm')?.configMap?.name).toBe('settings');
  });
  it('suffixes every secret reference with appendIndexToSecretRefs', () => {
    const vm = desiredVM(input({ spec: spec({ nameGeneration: { appendIndexToSecretRefs: true } }) }));
    const s = vm.spec.template.spec!;
    const vols = s.volumes!;
    expect(vols.find((v) => v.name === 'sec')?.secret?.secretName).toBe('creds-3');
    expect(vols.find((v) => v.name === 'ci')?.cloudInitNoCloud).toEqual({ secretRef: { name: 'userdata-3' }, networkDataSecretRef: { name: 'netdata-3' } });
    expect(vols.find((v) => v.name === 'cd')?.cloudInitConfigDrive?.secretRef?.name).toBe('cd-user-3');
    expect(s.accessCredentials?.[0]?.sshPublicKey?.source.secret?.secretName).toBe('keys-3');
    expect(s.accessCredentials?.[1]?.userPassword?.source.secret?.secretName).toBe('pw-3');
    expect(vols.find((v) => v.name === 'cm')?.configMap?.name).toBe('settings');
    expect(vols.find((v) => v.name === 'sp')?.sysprep?.configMap?.name).toBe('unattend');
  });
  it('suffixes every config map reference with appendIndexToConfigMapRefs', () => {
    const vols = desiredVM(input({ spec: spec({ nameGeneration: { appendIndexToConfigMapRefs: true } }) })).spec.template.spec!.volumes!;
    expect(vols.find((v) => v.name === 'cm')?.configMap?.name).toBe('settings-3');
    expect(vols.find((v) => v.name === 'sp')?.sysprep?.configMap?.name).toBe('unattend-3');
    expect(vols.find((v) => v.name === 'sec')?.secret?.secretName).toBe('creds');
  });
  it('never mutates the fleet spec', () => {
    const s = spec({ nameGeneration: { appendIndexToSecretRefs: true, appendIndexToConfigMapRefs: true } });
    const before = structuredClone(s);
    desiredVM(input({ spec: s }));
    expect(s).toEqual(before);
  });

  const key = fc.oneof(
    fc.constantFrom('app.kubernetes.io/instance', 'argocd.argoproj.io/tracking-id', 'argocd.argoproj.io/sync-options', 'app', 'virtfleet.io/fleet', 'team'),
    fc.string({ minLength: 1, maxLength: 8 }).map((s) => `argocd.argoproj.io/${s}`),
    fc.string({ minLength: 1, maxLength: 8 }),
  );
  const map = fc.dictionary(key, fc.string({ maxLength: 5 }), { maxKeys: 6 });
  it('invariant 4: children never carry Argo CD tracking metadata and always the controller owner reference (property)', () => {
    fc.assert(
      fc.property(map, map, map, map, fc.nat({ max: 500 }), fc.string({ minLength: 1, maxLength: 10 }), (labels, annotations, vmiLabels, dvLabels, index, uid) => {
        const s = spec();
        s.template.metadata = { labels, annotations };
        s.template.spec.template.metadata = { labels: vmiLabels, annotations };
        s.template.spec.dataVolumeTemplates![0]!.metadata = { name: 'data', labels: dvLabels, annotations };
        const vm = desiredVM({ fleet: { ...fleet, uid }, spec: s, image, index, revision: 'r' });
        const metas = [vm.metadata, vm.spec.template.metadata as typeof vm.metadata, vm.spec.dataVolumeTemplates?.[0]?.metadata];
        for (const m of metas) for (const k of [...Object.keys(m?.labels ?? {}), ...Object.keys(m?.annotations ?? {})]) expect(isArgoCdTrackingKey(k)).toBe(false);
        expect(vm.metadata?.ownerReferences).toEqual([expect.objectContaining({ uid, kind: 'VMFleet', controller: true, blockOwnerDeletion: true })]);
        expect(vm.metadata?.labels?.['virtfleet.io/fleet']).toBe('web');
        expect(vm.metadata?.labels?.['virtfleet.io/index']).toBe(String(index));
      }),
    );
  });

  describe('a DataVolume image', () => {
    const dvImage = { version: 'f42', pvc: { namespace: 'images', name: 'fedora-f42' } };
    const imageTemplate = (vm: ReturnType<typeof desiredVM>) => {
      const volume = vm.spec.template.spec?.volumes?.find((v) => v.name === 'root');
      return { volume, template: vm.spec.dataVolumeTemplates?.find((t) => t.metadata?.name === volume?.dataVolume?.name) };
    };

    it('becomes a dataVolume volume whose template clones the version\'s PVC from the image namespace', () => {
      const vm = desiredVM(input({ image: dvImage }));
      const { volume, template } = imageTemplate(vm);
      expect(volume).toEqual({ name: 'root', dataVolume: { name: imageDataVolumeName('web-3', 'root', dvImage) } });
      expect(template).toEqual({ metadata: { name: volume?.dataVolume?.name, labels: { 'virtfleet.io/fleet': 'web', 'virtfleet.io/image-disk': 'root' } }, spec: { storage: {}, source: { pvc: { namespace: 'images', name: 'fedora-f42' } } } });
      expect(volume?.dataVolume?.name).toMatch(new RegExp(`^web-3-root-[0-9a-f]{${IMAGE_DATA_VOLUME_HASH_LENGTH}}$`));
    });
    it('keeps the other dataVolumeTemplates indexed as before', () => {
      const vm = desiredVM(input({ image: dvImage }));
      expect(vm.spec.dataVolumeTemplates?.map((t) => t.metadata?.name)).toEqual(['data-3', imageDataVolumeName('web-3', 'root', dvImage)]);
      expect(vm.spec.template.spec?.volumes?.find((v) => v.name === 'disk')?.dataVolume?.name).toBe('data-3');
    });
    it('builds on the template\'s own dataVolumeTemplate for the image volume: storage and metadata kept, source replaced', () => {
      const s = spec();
      s.template.spec.dataVolumeTemplates!.push({
        metadata: { name: 'rootdisk', labels: { tier: 'os', 'argocd.argoproj.io/x': 'y' } },
        spec: { storage: { storageClassName: 'fast', resources: { requests: { storage: '20Gi' } } }, sourceRef: { kind: 'DataSource', name: 'old' } },
      });
      s.template.spec.template.spec!.volumes![0] = { name: 'root', dataVolume: { name: 'rootdisk' } };
      const before = structuredClone(s);
      const vm = desiredVM(input({ spec: s, image: dvImage }));
      expect(s).toEqual(before);
      const name = imageDataVolumeName('web-3', 'root', dvImage);
      expect(vm.spec.dataVolumeTemplates).toEqual([
        { metadata: { name: 'data-3' }, spec: { storage: {} } },
        { metadata: { name, labels: { tier: 'os', 'virtfleet.io/fleet': 'web', 'virtfleet.io/image-disk': 'root' } }, spec: { storage: { storageClassName: 'fast', resources: { requests: { storage: '20Gi' } } }, source: { pvc: { namespace: 'images', name: 'fedora-f42' } } } },
      ]);
      expect(imageTemplate(vm).volume).toEqual({ name: 'root', dataVolume: { name } });
    });
    it('is named per VM and per version: the name changes with the version and only then (property)', () => {
      const version = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
      fc.assert(
        fc.property(version, version, fc.nat({ max: 999 }), fc.nat({ max: 999 }), (a, b, i, j) => {
          const at = (v: string, index: number) => imageTemplate(desiredVM(input({ index, image: { version: v, pvc: { namespace: 'images', name: `fedora-${v}` } } }))).template?.metadata?.name;
          expect(at(a, i)).toBe(at(a, i));
          expect(at(a, i) === at(b, i)).toBe(a === b);
          expect(at(a, i) === at(a, j)).toBe(i === j);
        }),
      );
    });
    it('the same version always gives the same desired VM', () => {
      expect(desiredVM(input({ image: { ...dvImage } }))).toEqual(desiredVM(input({ image: dvImage })));
    });
  });
});
