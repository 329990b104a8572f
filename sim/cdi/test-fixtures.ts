// Objects for the CDI unit tests.
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { DataSource, DataVolume } from '../world.ts';

export const NS = 'ns';

export function dataVolume(name: string, spec: DataVolume['spec'], extra: { uid?: string; status?: DataVolume['status']; labels?: Record<string, string>; annotations?: Record<string, string> } = {}): DataVolume {
  return {
    apiVersion: 'cdi.kubevirt.io/v1beta1',
    kind: 'DataVolume',
    metadata: { name, namespace: NS, uid: extra.uid ?? `uid-${name}`, resourceVersion: '1', labels: extra.labels, annotations: extra.annotations },
    spec,
    ...(extra.status ? { status: extra.status } : {}),
  };
}

export function dataSource(name: string, source: NonNullable<DataSource['spec']>['source'], namespace = NS): DataSource {
  return { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataSource', metadata: { name, namespace }, spec: { source } };
}

export function claim(name: string, opts: { phase?: string; storage?: string; accessModes?: string[]; owner?: string; namespace?: string; annotations?: Record<string, string> } = {}): V1PersistentVolumeClaim {
  return {
    metadata: {
      name,
      namespace: opts.namespace ?? NS,
      annotations: opts.annotations,
      ...(opts.owner ? { ownerReferences: [{ apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', name: opts.owner, uid: `uid-${opts.owner}`, controller: true }] } : {}),
    },
    spec: { accessModes: opts.accessModes ?? ['ReadWriteOnce'], resources: { requests: { storage: opts.storage ?? '1Gi' } } },
    ...(opts.phase ? { status: { phase: opts.phase } } : {}),
  };
}

export function getter(...sources: DataSource[]) {
  return (namespace: string, name: string) => sources.find((d) => d.metadata?.namespace === namespace && d.metadata?.name === name);
}
