import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1Secret } from '@kubernetes/client-node';
import type { DataVolume } from './cdi.ts';
import {
  applyVersionState,
  containerDiskState,
  dataSourceName,
  dataVolumeName,
  derivedRegistrySecret,
  desiredDataSource,
  desiredDataVolume,
  IMMEDIATE_BINDING_ANNOTATION,
  nextVersionState,
  registryCredentials,
  shortName,
  versionFromDataVolume,
} from './materialise.ts';
import type { ImageRef, ImageSpec, RecordedVersion, VersionPhase } from './types.ts';

const image: ImageRef = { namespace: 'images', name: 'fedora', uid: 'uid-1' };
const DIGEST = `sha256:${'a'.repeat(64)}`;
const CHECKSUM = `sha256:${'b'.repeat(64)}`;
const storage = { type: 'DataVolume' as const, size: '10Gi' };
const registrySpec = (extra: Partial<NonNullable<ImageSpec['source']['registry']>> = {}): ImageSpec => ({
  source: { registry: { repository: 'quay.io/containerdisks/fedora', ...extra } },
  storage,
});
const version = (phase: VersionPhase = 'Discovered', extra: Partial<RecordedVersion> = {}): RecordedVersion => ({ name: 'f42-1', phase, ...extra });

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const dockerConfigSecret = (auths: Record<string, unknown>): V1Secret => ({
  metadata: { name: 'pull', namespace: 'images' },
  type: 'kubernetes.io/dockerconfigjson',
  data: { '.dockerconfigjson': b64(JSON.stringify({ auths })) },
});

const dv = (status: DataVolume['status'], extra: Partial<DataVolume> = {}): DataVolume => ({
  apiVersion: 'cdi.kubevirt.io/v1beta1',
  kind: 'DataVolume',
  metadata: { name: 'fedora-f42-1', namespace: 'images' },
  status,
  ...extra,
});

describe('names', () => {
  it('are <image>-<version> and <image>-<channel> when they fit', () => {
    expect(dataVolumeName('fedora', 'f42-1')).toBe('fedora-f42-1');
    expect(dataSourceName('fedora', 'stable')).toBe('fedora-stable');
  });
  it('are shortened with a hash when longer than 63 characters (property)', () => {
    const part = fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,80}[a-z0-9])?$/);
    fc.assert(
      fc.property(part, part, part, (a, b, c) => {
        const name = dataVolumeName(a, b);
        expect(name.length).toBeLessThanOrEqual(63);
        expect(name).toMatch(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/);
        expect(dataVolumeName(a, b)).toBe(name);
        if (`${a}-${b}`.length <= 63) expect(name).toBe(`${a}-${b}`);
        if (`${a}-${b}` !== `${a}-${c}`) expect(dataVolumeName(a, c)).not.toBe(name);
      }),
    );
  });
  it('keeps a readable prefix', () => {
    const long = shortName(`${'x'.repeat(60)}-version`);
    expect(long).toHaveLength(63);
    expect(long.startsWith('x'.repeat(52))).toBe(true);
  });
});

describe('desiredDataVolume', () => {
  it('imports a registry version by digest, bound at once, owned and labelled', () => {
    const plan = desiredDataVolume({ image, spec: registrySpec(), version: version('Discovered', { digest: DIGEST }) });
    expect(plan).toEqual({
      ok: true,
      dataVolume: {
        apiVersion: 'cdi.kubevirt.io/v1beta1',
        kind: 'DataVolume',
        metadata: {
          name: 'fedora-f42-1',
          namespace: 'images',
          labels: { 'virtfleet.io/goldenimage': 'fedora', 'virtfleet.io/version': 'f42-1' },
          annotations: { [IMMEDIATE_BINDING_ANNOTATION]: 'true' },
          ownerReferences: [{ apiVersion: 'virtfleet.io/v1alpha1', kind: 'GoldenImage', name: 'fedora', uid: 'uid-1', controller: true, blockOwnerDeletion: true }],
        },
        spec: {
          source: { registry: { url: `docker://quay.io/containerdisks/fedora@${DIGEST}` } },
          storage: { resources: { requests: { storage: '10Gi' } } },
        },
      },
    });
  });

  it('names a derived credentials Secret for a dockerconfigjson pull secret, and passes the CA ConfigMap', () => {
    const spec = registrySpec({ pullSecretRef: { name: 'pull' }, caConfigMapRef: { name: 'ca', key: 'ca.crt' } });
    const plan = desiredDataVolume({ image, spec: { ...spec, storage: { ...storage, storageClassName: 'fast' } }, version: version('Discovered', { digest: DIGEST }) });
    if (!plan.ok) throw new Error(plan.message);
    expect(plan.credentials).toEqual({ secretName: 'fedora-registry-credentials', pullSecretName: 'pull' });
    expect(plan.dataVolume.spec?.source?.registry).toEqual({ url: `docker://quay.io/containerdisks/fedora@${DIGEST}`, secretRef: 'fedora-registry-credentials', certConfigMap: 'ca' });
    expect(plan.dataVolume.spec?.storage).toEqual({ resources: { requests: { storage: '10Gi' } }, storageClassName: 'fast' });
  });

  it('refuses a CA key the registry importer would ignore', () => {
    const plan = desiredDataVolume({ image, spec: registrySpec({ caConfigMapRef: { name: 'ca', key: 'bundle.pem' } }), version: version('Discovered', { digest: DIGEST }) });
    expect(plan).toMatchObject({ ok: false, reason: 'CAKeyNotCrt' });
  });

  it('imports an http version from its own URL or the source URL, with its checksum', () => {
    const spec: ImageSpec = {
      source: { http: { url: 'https://example.org/f.qcow2', checksumURL: 'https://example.org/SUMS', secretRef: { name: 'basic' }, caConfigMapRef: { name: 'ca', key: 'any.pem' } } },
      storage,
    };
    const a = desiredDataVolume({ image, spec, version: version('Discovered', { checksum: CHECKSUM }) });
    const b = desiredDataVolume({ image, spec, version: version('Discovered', { checksum: CHECKSUM, url: 'https://example.org/old.qcow2' }) });
    if (!a.ok || !b.ok) throw new Error('refused');
    expect(a.dataVolume.spec?.source?.http).toEqual({ url: 'https://example.org/f.qcow2', checksum: CHECKSUM, certConfigMap: 'ca', secretRef: 'basic' });
    expect(b.dataVolume.spec?.source?.http?.url).toBe('https://example.org/old.qcow2');
    expect(a.credentials).toBeUndefined();
  });

  it('clones an adopted PVC, by default from the image namespace', () => {
    const own = desiredDataVolume({ image, spec: { source: { pvc: { name: 'base' } }, storage }, version: version() });
    const other = desiredDataVolume({ image, spec: { source: { pvc: { name: 'base', namespace: 'golden' } }, storage }, version: version() });
    if (!own.ok || !other.ok) throw new Error('refused');
    expect(own.dataVolume.spec?.source).toEqual({ pvc: { namespace: 'images', name: 'base' } });
    expect(other.dataVolume.spec?.source).toEqual({ pvc: { namespace: 'golden', name: 'base' } });
    expect(other.dataVolume.metadata.namespace).toBe('images');
  });

  it('refuses what cannot be imported', () => {
    expect(desiredDataVolume({ image, spec: { ...registrySpec(), storage: { type: 'ContainerDisk' } }, version: version('Discovered', { digest: DIGEST }) })).toMatchObject({ ok: false, reason: 'NotDataVolumeStorage' });
    expect(desiredDataVolume({ image, spec: { ...registrySpec(), storage: { type: 'DataVolume' } }, version: version('Discovered', { digest: DIGEST }) })).toMatchObject({ ok: false, reason: 'StorageSizeMissing' });
    expect(desiredDataVolume({ image, spec: registrySpec(), version: version() })).toMatchObject({ ok: false, reason: 'VersionWithoutDigest' });
    expect(desiredDataVolume({ image, spec: { source: { http: { url: 'https://e.org/x', checksum: CHECKSUM } }, storage }, version: version() })).toMatchObject({ ok: false, reason: 'VersionWithoutChecksum' });
  });
});

describe('desiredDataSource', () => {
  it('points a channel at its version PVC', () => {
    expect(desiredDataSource({ image, channel: 'stable', version: 'f42-1', pvc: { namespace: 'images', name: 'fedora-f42-1' } })).toEqual({
      apiVersion: 'cdi.kubevirt.io/v1beta1',
      kind: 'DataSource',
      metadata: {
        name: 'fedora-stable',
        namespace: 'images',
        labels: { 'virtfleet.io/goldenimage': 'fedora', 'virtfleet.io/channel': 'stable', 'virtfleet.io/version': 'f42-1' },
        ownerReferences: [{ apiVersion: 'virtfleet.io/v1alpha1', kind: 'GoldenImage', name: 'fedora', uid: 'uid-1', controller: true, blockOwnerDeletion: true }],
      },
      spec: { source: { pvc: { namespace: 'images', name: 'fedora-f42-1' } } },
    });
  });
});

describe('registry credentials', () => {
  it('reads user name and password, or auth, for the repository registry', () => {
    expect(registryCredentials(dockerConfigSecret({ 'quay.io': { username: 'u', password: 'p' } }), 'quay.io/containerdisks/fedora')).toEqual({ ok: true, username: 'u', password: 'p' });
    expect(registryCredentials(dockerConfigSecret({ 'https://127.0.0.1:5000/': { auth: b64('me:pa:ss') } }), '127.0.0.1:5000/disks/fedora')).toEqual({ ok: true, username: 'me', password: 'pa:ss' });
    expect(registryCredentials(dockerConfigSecret({ 'https://index.docker.io/v1/': { auth: b64('hub:x') } }), 'docker.io/library/fedora')).toMatchObject({ ok: true, username: 'hub' });
  });
  it('prefers the most specific key and never matches another registry', () => {
    const secret = dockerConfigSecret({ 'quay.io': { auth: b64('all:1') }, 'quay.io/containerdisks': { auth: b64('team:2') }, 'quay.io.evil': { auth: b64('no:3') } });
    expect(registryCredentials(secret, 'quay.io/containerdisks/fedora')).toMatchObject({ username: 'team' });
    expect(registryCredentials(secret, 'quay.io/other/fedora')).toMatchObject({ username: 'all' });
    expect(registryCredentials(dockerConfigSecret({ 'quay.io.evil': { auth: b64('no:3') } }), 'quay.io/a/b')).toMatchObject({ ok: false });
  });
  it('reads the legacy dockercfg layout', () => {
    const secret: V1Secret = { metadata: { name: 'pull' }, data: { '.dockercfg': b64(JSON.stringify({ 'quay.io': { auth: b64('old:pw') } })) } };
    expect(registryCredentials(secret, 'quay.io/a/b')).toEqual({ ok: true, username: 'old', password: 'pw' });
  });
  it('says why a secret is unusable', () => {
    expect(registryCredentials({ data: {} }, 'quay.io/a/b')).toMatchObject({ ok: false, message: 'has neither .dockerconfigjson nor .dockercfg' });
    expect(registryCredentials({ data: { '.dockerconfigjson': b64('{') } }, 'quay.io/a/b')).toMatchObject({ ok: false });
    expect(registryCredentials(dockerConfigSecret({ 'quay.io': { identitytoken: 't' } }), 'quay.io/a/b')).toMatchObject({ ok: false, message: expect.stringContaining('identity tokens') as unknown });
  });
  it('derives an owned Opaque Secret with accessKeyId and secretKey in the image namespace', () => {
    const plan = derivedRegistrySecret({ image, spec: registrySpec({ pullSecretRef: { name: 'pull' } }), pullSecret: dockerConfigSecret({ 'quay.io': { username: 'u', password: 'p' } }) });
    if (!plan.ok) throw new Error(plan.message);
    expect(plan.secret.metadata).toMatchObject({ name: 'fedora-registry-credentials', namespace: 'images', labels: { 'virtfleet.io/goldenimage': 'fedora' } });
    expect(plan.secret.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'GoldenImage', uid: 'uid-1', controller: true });
    expect(plan.secret.type).toBe('Opaque');
    expect(plan.secret.data).toEqual({ accessKeyId: b64('u'), secretKey: b64('p') });
  });
});

describe('versionFromDataVolume', () => {
  const running = (reason: string, message?: string) => ({ type: 'Running', status: 'False' as const, reason, ...(message ? { message } : {}) });

  it('is Discovered without a DataVolume, or while one is being deleted', () => {
    expect(versionFromDataVolume(undefined, version())).toEqual({ phase: 'Discovered' });
    expect(versionFromDataVolume(dv({ phase: 'ImportInProgress' }, { metadata: { name: 'x', deletionTimestamp: new Date() } }), version('Importing'))).toEqual({ phase: 'Discovered' });
  });

  it('is Importing with CDI progress while CDI works', () => {
    expect(versionFromDataVolume(dv({ phase: 'Pending', progress: 'N/A', claimName: 'fedora-f42-1', conditions: [{ type: 'Bound', status: 'False', reason: 'Pending', message: 'PVC fedora-f42-1 Pending' }] }), version()))
      .toEqual({ phase: 'Importing', pvcName: 'fedora-f42-1' });
    expect(versionFromDataVolume(dv({ phase: 'ImportInProgress', progress: '45.20%', claimName: 'fedora-f42-1', conditions: [{ type: 'Ready', status: 'False', reason: 'TransferRunning' }, { type: 'Running', status: 'True', reason: 'Pod is running' }] }), version('Importing')))
      .toEqual({ phase: 'Importing', pvcName: 'fedora-f42-1', progress: '45.20%' });
    expect(versionFromDataVolume(dv({}), version())).toEqual({ phase: 'Importing' });
  });

  it('stays Importing and says why while the importer restarts', () => {
    const state = versionFromDataVolume(dv({ phase: 'ImportInProgress', restartCount: 2, conditions: [running('Error', 'Unable to connect to http data source: expected status code 200, got 503')] }), version('Importing'));
    expect(state).toEqual({ phase: 'Importing', reason: 'ImporterRestarting', message: 'the importer restarted 2 times: Unable to connect to http data source: expected status code 200, got 503' });
  });

  it('passes on why CDI waits', () => {
    const state = versionFromDataVolume(dv({ phase: '', conditions: [{ type: 'Bound', status: 'False', reason: 'ErrClaimNotValid', message: 'no size' }, { type: 'Ready', status: 'False', reason: 'ErrClaimNotValid', message: 'no size' }] }), version());
    expect(state).toEqual({ phase: 'Importing', reason: 'ErrClaimNotValid', message: 'no size' });
    expect(versionFromDataVolume(dv({ phase: 'WaitForFirstConsumer' }), version())).toMatchObject({ phase: 'Importing', reason: 'WaitForFirstConsumer' });
    const secretMissing = 'secret "fedora-registry-credentials" not found';
    expect(versionFromDataVolume(dv({ phase: 'ImportScheduled', conditions: [running('CreateContainerConfigError', secretMissing)] }), version()))
      .toEqual({ phase: 'Importing', reason: 'CreateContainerConfigError', message: secretMissing });
    expect(versionFromDataVolume(dv({ phase: 'ImportScheduled', conditions: [running('ContainerCreating')] }), version())).toEqual({ phase: 'Importing' });
  });

  it('is Ready when the DataVolume succeeded', () => {
    expect(versionFromDataVolume(dv({ phase: 'Succeeded', progress: '100.0%', claimName: 'fedora-f42-1' }), version('Importing'))).toEqual({ phase: 'Ready', progress: '100.0%', pvcName: 'fedora-f42-1' });
  });

  it('fails with ChecksumMismatch on CDI words, ImportFailed with CDI message otherwise', () => {
    const mismatch = 'Unable to process data: Unable to transfer source data to scratch space: checksum validation failed: checksum mismatch: expected sha256:bbbb, calculated sha256:cccc';
    expect(versionFromDataVolume(dv({ phase: 'Failed', claimName: 'fedora-f42-1', conditions: [running('ChecksumError', mismatch)] }), version('Importing')))
      .toEqual({ phase: 'Failed', reason: 'ChecksumMismatch', message: mismatch, pvcName: 'fedora-f42-1' });
    expect(versionFromDataVolume(dv({ phase: 'Failed', conditions: [running('Error', mismatch)] }), version('Importing'))).toMatchObject({ reason: 'ChecksumMismatch' });
    const notFound = 'Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found';
    expect(versionFromDataVolume(dv({ phase: 'Failed', restartCount: 1, conditions: [running('Error', notFound)] }), version('Importing')))
      .toEqual({ phase: 'Failed', reason: 'ImportFailed', message: notFound, pvcName: 'fedora-f42-1' });
    expect(versionFromDataVolume(dv({ phase: 'Failed' }), version('Importing'))).toMatchObject({ reason: 'ImportFailed', message: 'Failed to import into PVC fedora-f42-1' });
  });

  it('keeps long CDI messages within the status bound', () => {
    const state = versionFromDataVolume(dv({ phase: 'Failed', conditions: [running('Error', 'x'.repeat(5000))] }), version('Importing'));
    expect(state.message?.length).toBe(1024);
  });

  it('never moves a version back once it was Ready, nor revives a failure (property)', () => {
    const phases: VersionPhase[] = ['Discovered', 'Importing', 'Ready', 'Failed', 'Deprecated', 'Obsolete', 'Deleted'];
    const dvPhases = ['', 'Pending', 'ImportScheduled', 'ImportInProgress', 'CloneScheduled', 'CloneInProgress', 'Succeeded', 'Failed', 'Paused'];
    fc.assert(
      fc.property(fc.constantFrom(...phases), fc.option(fc.constantFrom(...dvPhases), { nil: undefined }), (phase, dvPhase) => {
        const recorded = version(phase, { pvcName: 'fedora-f42-1', message: 'earlier' });
        const state = versionFromDataVolume(dvPhase === undefined ? undefined : dv({ phase: dvPhase }), recorded);
        if (['Ready', 'Deprecated', 'Obsolete', 'Deleted', 'Failed'].includes(phase)) expect(state.phase).toBe(phase);
        else expect(['Discovered', 'Importing', 'Ready', 'Failed']).toContain(state.phase);
      }),
    );
  });

  it('reports a lost PVC of a Ready version without changing its phase', () => {
    expect(versionFromDataVolume(undefined, version('Deprecated', { pvcName: 'fedora-f42-1' }))).toEqual({ phase: 'Deprecated', pvcName: 'fedora-f42-1', reason: 'PVCLost', message: 'the PVC fedora-f42-1 holding this version is gone' });
    expect(versionFromDataVolume(dv({ phase: 'Succeeded' }), version('Ready', { pvcName: 'fedora-f42-1' }))).toEqual({ phase: 'Ready', pvcName: 'fedora-f42-1' });
  });
});

describe('ContainerDisk versions and applying a state', () => {
  it('are Ready once the digest is confirmed', () => {
    expect(containerDiskState(version(), false)).toEqual({ phase: 'Discovered' });
    expect(containerDiskState(version(), true)).toEqual({ phase: 'Ready' });
    expect(containerDiskState(version('Obsolete'), false)).toEqual({ phase: 'Obsolete' });
    expect(nextVersionState({ spec: { source: { registry: { repository: 'quay.io/a/b' } } }, version: version(), digestConfirmed: true })).toEqual({ phase: 'Ready' });
    expect(nextVersionState({ spec: registrySpec(), version: version(), dataVolume: dv({ phase: 'Succeeded' }) })).toMatchObject({ phase: 'Ready' });
  });

  it('stamps readyAt once and keeps fields the state does not speak of', () => {
    const now = '2026-05-01T10:00:00Z';
    const ready = applyVersionState(version('Importing', { digest: DIGEST, progress: '50.00%', message: 'old' }), { phase: 'Ready', progress: '100.0%', pvcName: 'p' }, now);
    expect(ready).toEqual({ name: 'f42-1', phase: 'Ready', digest: DIGEST, progress: '100.0%', pvcName: 'p', readyAt: now });
    expect(applyVersionState(ready, { phase: 'Ready', pvcName: 'p' }, '2026-06-01T00:00:00Z').readyAt).toBe(now);
  });
});
