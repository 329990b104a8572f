// The simulator's CDI on the real API server: DataVolumes import and clone into claims they own,
// DataSources report readiness, plain claims bind at once, injected import failures stick.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { Watch } from '@kubernetes/client-node';
import { pathOf, RESOURCES } from '../controller/kube/resources.ts';
import { kubeConfig } from './harness/cluster.ts';
import type { DataSource, DataVolume } from '../sim/world.ts';
import { simulatedCluster, type SimulatedCluster } from './harness/simulated.ts';
import { waitFor } from './harness/wait.ts';

let c: SimulatedCluster;
beforeAll(async () => {
  c = await simulatedCluster('cdi', {
    speed: 10,
    nodes: { count: 0 },
    cdi: { importMs: 6_000, cloneMs: 3_000, failingURLs: ['broken'] },
  });
});
afterAll(async () => c?.stop());

type Condition = { type: string; status: string; reason?: string; message?: string };
const dv = (name: string) => c.client.get<DataVolume>(RESOURCES.dataVolume, { namespace: c.namespace, name });
const pvc = (name: string) => c.client.get<V1PersistentVolumeClaim>(RESOURCES.pvc, { namespace: c.namespace, name });
const ds = (name: string) => c.client.get<DataSource>(RESOURCES.dataSource, { namespace: c.namespace, name });
const condition = (obj: { status?: { conditions?: Record<string, unknown>[] } } | undefined, type: string) =>
  (obj?.status?.conditions as Condition[] | undefined)?.find((x) => x.type === type);

function dataVolume(name: string, spec: DataVolume['spec']): DataVolume {
  return { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name, namespace: c.namespace }, spec };
}

/**
 * Every phase the DataVolume passes through until `until`, seen by a watch started before
 * `action` runs (polling could miss a short phase).
 */
async function phases(name: string, until: string, action: () => Promise<unknown> = async () => undefined): Promise<string[]> {
  const seen: string[] = [];
  let request: AbortController | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      void new Watch(kubeConfig())
        .watch(pathOf(RESOURCES.dataVolume, c.namespace), { fieldSelector: `metadata.name=${name}` }, (_type, obj: DataVolume) => {
          const phase = obj.status?.phase;
          if (phase && seen.at(-1) !== phase) seen.push(phase);
          if (phase === until) resolve();
        }, (err) => (err ? reject(err) : undefined))
        .then((r) => {
          request = r;
          return action();
        })
        .catch(reject);
      setTimeout(() => reject(new Error(`${name} not ${until} in time; saw ${seen.join(', ')}`)), 60_000).unref();
    });
  } finally {
    request?.abort();
  }
  return seen;
}

describe('DataVolume', () => {
  it('imports over HTTP into a claim it owns, which binds when the import Succeeded', async () => {
    const seen = await phases('fedora-41', 'Succeeded', () =>
      c.client.create(RESOURCES.dataVolume, dataVolume('fedora-41', { source: { http: { url: 'https://images.example/fedora-41.qcow2' } }, storage: { resources: { requests: { storage: '5Gi' } } } })));
    expect(seen).toEqual(expect.arrayContaining(['ImportScheduled', 'ImportInProgress', 'Succeeded']));
    const done = (await dv('fedora-41'))!;
    expect(done.status).toMatchObject({ phase: 'Succeeded', progress: '100.0%', claimName: 'fedora-41' });
    expect(condition(done, 'Ready')).toMatchObject({ status: 'True' });
    expect(condition(done, 'Bound')).toMatchObject({ status: 'True', reason: 'Bound' });
    const claim = (await pvc('fedora-41'))!;
    expect(claim.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'DataVolume', name: 'fedora-41', controller: true, blockOwnerDeletion: true })]);
    expect(claim.metadata?.annotations?.['cdi.kubevirt.io/storage.import.endpoint']).toBe('https://images.example/fedora-41.qcow2');
    expect(claim.spec?.accessModes).toEqual(['ReadWriteMany']);
    expect(claim.status).toMatchObject({ phase: 'Bound', capacity: { storage: '5Gi' } });
  });

  it('clones through a DataSource once its source exists; the DataSource turns Ready', async () => {
    await c.client.create(RESOURCES.dataSource, { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataSource', metadata: { name: 'centos', namespace: c.namespace }, spec: { source: { pvc: { namespace: c.namespace, name: 'centos-9' } } } } as DataSource);
    await c.client.create(RESOURCES.dataVolume, dataVolume('vm-root', { sourceRef: { kind: 'DataSource', name: 'centos' }, storage: {} }));
    await waitFor('clone waits for its source', async () => condition(await dv('vm-root'), 'Bound')?.reason === 'CloneWithoutSource');
    expect((await dv('vm-root'))?.status?.phase).toBe('CloneScheduled');
    await waitFor('DataSource NotFound', async () => condition(await ds('centos'), 'Ready')?.reason === 'NotFound');

    await c.client.create(RESOURCES.dataVolume, dataVolume('centos-9', { source: { registry: { url: 'docker://quay.io/containerdisks/centos-stream:9' } }, storage: { resources: { requests: { storage: '3Gi' } } } }));
    await phases('vm-root', 'Succeeded');
    expect(condition(await ds('centos'), 'Ready')).toMatchObject({ status: 'True', reason: 'Ready' });
    const clone = (await pvc('vm-root'))!;
    expect(clone.metadata?.annotations?.['k8s.io/CloneRequest']).toBe(`${c.namespace}/centos-9`);
    expect(clone.status).toMatchObject({ phase: 'Bound', capacity: { storage: '3Gi' } });
  });

  it('a failing URL fails the import once, with the importer’s error', async () => {
    await c.client.create(RESOURCES.dataVolume, dataVolume('bad', { source: { http: { url: 'https://images.example/broken.img' } }, storage: { resources: { requests: { storage: '1Gi' } } } }));
    await phases('bad', 'Failed');
    await new Promise((r) => setTimeout(r, 1_000));
    const failed = (await dv('bad'))!;
    expect(failed.status).toMatchObject({ phase: 'Failed', restartCount: 1 });
    expect(condition(failed, 'Running')).toMatchObject({ status: 'False', reason: 'Error' });
    expect((await pvc('bad'))?.status?.phase).toBe('Pending');
  });

  it('a blank DataVolume that asks for ReadWriteOnce gets it', async () => {
    await c.client.create(RESOURCES.dataVolume, dataVolume('scratch', { source: { blank: {} }, storage: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }));
    await phases('scratch', 'Succeeded');
    expect((await pvc('scratch'))?.spec?.accessModes).toEqual(['ReadWriteOnce']);
  });
});

describe('simulated storage', () => {
  it('binds a plain claim at once with its request as capacity', async () => {
    await c.client.create(RESOURCES.pvc, { metadata: { name: 'data', namespace: c.namespace }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } } } } as V1PersistentVolumeClaim);
    const status = await waitFor('claim Bound', async () => ((await pvc('data'))?.status?.phase === 'Bound' ? (await pvc('data'))!.status : undefined));
    expect(status).toMatchObject({ phase: 'Bound', capacity: { storage: '2Gi' }, accessModes: ['ReadWriteOnce'] });
  });
});
