import { describe, expect, it } from '@jest/globals';
import { ANN, boundClaimStatus, claimForDataVolume, claimSpec, claimTransferKind, isControlledBy, TRANSFER_START_ANNOTATION, transferStart } from './claim.ts';
import { claim, dataVolume, NS } from './test-fixtures.ts';

const START = '2025-01-01T00:00:00.123Z';

describe('claimForDataVolume (CDI newPersistentVolumeClaim)', () => {
  it('is named like the DataVolume, controlled by it, and annotated with the import endpoint', () => {
    const dv = dataVolume('root', { source: { http: { url: 'https://x/f.qcow2' } }, storage: { resources: { requests: { storage: '10Gi' } } } }, { labels: { team: 'a' }, annotations: { note: 'n' } });
    const c = claimForDataVolume(dv, { kind: 'import', type: 'http', url: 'https://x/f.qcow2' }, START);
    expect(c.metadata).toMatchObject({
      name: 'root',
      namespace: NS,
      ownerReferences: [{ apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', name: 'root', uid: 'uid-root', controller: true, blockOwnerDeletion: true }],
      labels: { app: 'containerized-data-importer', team: 'a', 'alerts.k8s.io/KubePersistentVolumeFillingUp': 'disabled' },
      annotations: {
        note: 'n',
        [ANN.endpoint]: 'https://x/f.qcow2',
        [ANN.source]: 'http',
        [ANN.contentType]: 'kubevirt',
        [ANN.podRestarts]: '0',
        [TRANSFER_START_ANNOTATION]: START,
      },
    });
    expect(c.spec).toEqual({ accessModes: ['ReadWriteMany'], volumeMode: 'Filesystem', resources: { requests: { storage: '10Gi' } } });
    expect(isControlledBy(c, dv)).toBe(true);
    expect(isControlledBy(c, dataVolume('root', {}, { uid: 'other' }))).toBe(false);
    expect(claimTransferKind(c)).toBe('import');
    expect(transferStart(c)).toBe(Date.parse(START));
  });

  it('annotates a clone with its CloneRequest and takes the source’s size when it asks for none', () => {
    const dv = dataVolume('copy', { source: { pvc: { namespace: 'images', name: 'golden' } }, storage: {} });
    const source = claim('golden', { namespace: 'images', phase: 'Bound', storage: '20Gi' });
    source.status!.capacity = { storage: '21Gi' };
    const c = claimForDataVolume(dv, { kind: 'clone', namespace: 'images', name: 'golden' }, START, source);
    expect(c.metadata?.annotations?.[ANN.cloneRequest]).toBe('images/golden');
    expect(c.metadata?.annotations?.[ANN.endpoint]).toBeUndefined();
    expect(c.spec?.resources?.requests).toEqual({ storage: '21Gi' });
    expect(claimTransferKind(c)).toBe('clone');
  });

  it('marks a blank image with import source "none"', () => {
    const c = claimForDataVolume(dataVolume('b', { source: { blank: {} }, pvc: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }), { kind: 'import', type: 'blank' }, START);
    expect(c.metadata?.annotations?.[ANN.source]).toBe('none');
    expect(claimTransferKind(c)).toBe('blank');
  });
});

describe('claimSpec (storage profile defaults)', () => {
  it('defaults to ReadWriteMany and Filesystem, and keeps what the DataVolume asks', () => {
    expect(claimSpec(dataVolume('a', { storage: {} }))).toEqual({ accessModes: ['ReadWriteMany'], volumeMode: 'Filesystem' });
    expect(claimSpec(dataVolume('a', { storage: { volumeMode: 'Block' } }))).toEqual({ accessModes: ['ReadWriteMany'], volumeMode: 'Block' });
    expect(claimSpec(dataVolume('a', { pvc: { accessModes: ['ReadWriteOnce'], storageClassName: 'fast', resources: { requests: { storage: '5Gi' } } } }))).toEqual({
      accessModes: ['ReadWriteOnce'], storageClassName: 'fast', volumeMode: 'Filesystem', resources: { requests: { storage: '5Gi' } },
    });
  });

  it('drops fields a claim cannot take from a DataVolume', () => {
    expect(claimSpec(dataVolume('a', { storage: { dataSourceRef: { kind: 'X', name: 'y' }, accessModes: ['ReadWriteOnce'] } }))).toEqual({ accessModes: ['ReadWriteOnce'], volumeMode: 'Filesystem' });
  });
});

describe('boundClaimStatus', () => {
  it('binds with the request as capacity and the access modes', () => {
    expect(boundClaimStatus(claim('c', { storage: '3Gi', accessModes: ['ReadWriteMany'] }))).toEqual({ phase: 'Bound', accessModes: ['ReadWriteMany'], capacity: { storage: '3Gi' } });
    expect(boundClaimStatus({ metadata: { name: 'x' }, spec: {} })).toEqual({ phase: 'Bound' });
  });
});
