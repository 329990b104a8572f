// The controller loop on the real API server, driving a small reconciler over ConfigMaps: it
// converges level-triggered, retries failures with backoff, honours requeueAfter and maps
// related objects to their owner's key.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { KubernetesObject, V1ConfigMap } from '@kubernetes/client-node';
import { KubeClient } from '../controller/kube/client.ts';
import { pathOf, type Resource } from '../controller/kube/resources.ts';
import { Controller, controllerOwnerKey } from '../controller/runtime/controller.ts';
import { Informer } from '../controller/runtime/informer.ts';
import { createNamespace, kubeConfig } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

const CONFIGMAP: Resource = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
const SECRET: Resource = { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true };
let ns: Awaited<ReturnType<typeof createNamespace>>;
let controller: Controller;
const client = new KubeClient(kubeConfig(), { qps: 0 });
const attempts = new Map<string, number>();
let timedReconciles = 0;

beforeAll(async () => {
  ns = await createNamespace('loop');
  const informer = <T extends KubernetesObject>(res: Resource) =>
    new Informer<T>(kubeConfig(), { path: pathOf(res, ns.name), list: () => client.list<T>(res, { namespace: ns.name }) as never });
  const configMaps = informer<V1ConfigMap>(CONFIGMAP);
  const secrets = informer<KubernetesObject>(SECRET);
  controller = new Controller({
    primary: configMaps as Informer<KubernetesObject>,
    related: [{ informer: secrets, keysFor: controllerOwnerKey('ConfigMap') }],
    queue: { baseDelayMs: 50 },
    reconcile: async (key) => {
      const [namespace, name] = key.split('/') as [string, string];
      const cm = configMaps.get(name, namespace);
      if (!cm) return;
      attempts.set(name, (attempts.get(name) ?? 0) + 1);
      if (cm.data?.failTimes && attempts.get(name)! <= Number(cm.data.failTimes)) throw new Error('injected');
      if (cm.data?.timed) timedReconciles++;
      // Level-triggered: the annotation follows data.value and the number of owned Secrets.
      const owned = secrets.list(namespace).filter((s) => controllerOwnerKey('ConfigMap')(s).includes(key)).length;
      const want = `${cm.data?.value ?? ''}/${owned}`;
      if (cm.metadata?.annotations?.seen !== want) {
        await client.mergePatch(CONFIGMAP, { namespace, name }, { metadata: { annotations: { seen: want } } });
      }
      return cm.data?.timed ? { requeueAfterMs: 100 } : undefined;
    },
  });
  await controller.start();
});
afterAll(async () => {
  await controller?.stop();
  await ns?.remove();
});

const seen = async (name: string) => (await client.get<V1ConfigMap>(CONFIGMAP, { namespace: ns.name, name }))?.metadata?.annotations?.seen;

it('converges on the current state, and again after a change', async () => {
  await client.create(CONFIGMAP, { metadata: { name: 'a', namespace: ns.name }, data: { value: 'one' } });
  await waitFor('seen one', async () => (await seen('a')) === 'one/0');
  await client.mergePatch(CONFIGMAP, { namespace: ns.name, name: 'a' }, { data: { value: 'two' } });
  await waitFor('seen two', async () => (await seen('a')) === 'two/0');
});

it('retries a failing reconcile with backoff until it succeeds', async () => {
  await client.create(CONFIGMAP, { metadata: { name: 'flaky', namespace: ns.name }, data: { value: 'x', failTimes: '3' } });
  await waitFor('converged after failures', async () => (await seen('flaky')) === 'x/0');
  expect(attempts.get('flaky')).toBeGreaterThanOrEqual(4);
});

it('reconciles the owner when an owned object changes', async () => {
  const owner = await client.create<V1ConfigMap>(CONFIGMAP, { metadata: { name: 'owner', namespace: ns.name }, data: { value: 'v' } });
  await waitFor('owner seen', async () => (await seen('owner')) === 'v/0');
  await client.create(SECRET, {
    metadata: { name: 'child', namespace: ns.name, ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid!, controller: true }] },
  } as KubernetesObject);
  await waitFor('owner counts its child', async () => (await seen('owner')) === 'v/1');
});

it('reconciles again after requeueAfter without any event', async () => {
  await client.create(CONFIGMAP, { metadata: { name: 'timed', namespace: ns.name }, data: { value: 't', timed: 'yes' } });
  await waitFor('several timed reconciles', () => timedReconciles >= 5, 10_000);
});
