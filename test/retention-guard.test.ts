// The retention guard on the real API server, as crds/retention-guard.yaml installs it (the test
// setup applies crds/ like `kubectl apply -f crds/`): while a PVC is held in the ConfigMap, a VM
// or DataVolume that clones it is refused, in its namespace and from another one, and a VM that
// already cloned it keeps being updatable; other PVCs are untouched; released, all is allowed
// again. No KubeVirt or CDI controller runs here: only admission is under test.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { DEFAULT_RETENTION_GUARD_NAMESPACE, guardKey, RETENTION_GUARD_MESSAGE, RETENTION_GUARD_NAME, RetentionGuard } from '../controller/image/retention-guard.ts';
import { KubeClient } from '../controller/kube/client.ts';
import { pathOf, RESOURCES } from '../controller/kube/resources.ts';
import { createNamespace, kubeConfig } from './harness/cluster.ts';

const client = new KubeClient(kubeConfig(), { qps: 0 });
const log = { info: () => undefined, error: () => undefined };
const guard = new RetentionGuard(client, { namespace: DEFAULT_RETENTION_GUARD_NAMESPACE, name: RETENTION_GUARD_NAME }, log, { settleMs: 0 });
let ns: { name: string; remove: () => Promise<void> };
let other: { name: string; remove: () => Promise<void> };

beforeAll(async () => {
  [ns, other] = await Promise.all([createNamespace('guard'), createNamespace('guard-other')]);
});
afterAll(async () => {
  await guard.release([guardKey(ns.name, 'held'), guardKey(ns.name, 'stale'), guardKey(other.name, 'kept')]).catch(() => undefined);
  await Promise.all([ns.remove(), other.remove()]);
});

const cloningVM = (namespace: string, name: string, pvc: { namespace: string; name: string }): V1VirtualMachine => ({
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { namespace, name },
  spec: {
    runStrategy: 'Halted',
    dataVolumeTemplates: [{ metadata: { name: `${name}-disk` }, spec: { source: { pvc }, storage: { resources: { requests: { storage: '1Gi' } } } } }],
    template: { spec: { domain: { devices: { disks: [{ name: 'disk', disk: { bus: 'virtio' } }] } }, volumes: [{ name: 'disk', dataVolume: { name: `${name}-disk` } }] } },
  },
});
const cloningDV = (namespace: string, name: string, pvc: { namespace: string; name: string }) => ({
  apiVersion: 'cdi.kubevirt.io/v1beta1',
  kind: 'DataVolume',
  metadata: { namespace, name },
  spec: { source: { pvc }, storage: { resources: { requests: { storage: '1Gi' } } } },
});
/** The refusal's message, or undefined when the create went through (dry run: nothing is stored). */
const refusal = (path: string, body: unknown) => client.http.request('POST', `${path}?dryRun=All`, body).then(() => undefined, (err: Error) => err.message);

describe('retention guard', () => {
  it('refuses new clones of a held PVC, from any namespace, until released', async () => {
    const vms = pathOf(RESOURCES.vm, ns.name);
    const dvs = pathOf(RESOURCES.dataVolume, ns.name);
    // Before: nothing held, everything allowed; one VM is stored, cloning the PVC to be held.
    expect(await refusal(vms, cloningVM(ns.name, 'a', { namespace: ns.name, name: 'held' }))).toBeUndefined();
    const before = await client.create(RESOURCES.vm, cloningVM(ns.name, 'before', { namespace: ns.name, name: 'held' }));

    expect(await guard.hold({ [guardKey(ns.name, 'held')]: `${ns.name}/disk v1` })).toBe(true);
    expect(await guard.inForce(ns.name, 'held')).toBe(true);
    expect(await refusal(vms, cloningVM(ns.name, 'a', { namespace: ns.name, name: 'held' }))).toContain(RETENTION_GUARD_MESSAGE);
    expect(await refusal(dvs, cloningDV(ns.name, 'a', { namespace: ns.name, name: 'held' }))).toContain(RETENTION_GUARD_MESSAGE);
    expect(await refusal(pathOf(RESOURCES.vm, other.name), cloningVM(other.name, 'a', { namespace: ns.name, name: 'held' }))).toContain(RETENTION_GUARD_MESSAGE);
    // Only that PVC, and only of that namespace.
    expect(await refusal(vms, cloningVM(ns.name, 'b', { namespace: ns.name, name: 'another' }))).toBeUndefined();
    expect(await refusal(pathOf(RESOURCES.vm, other.name), cloningVM(other.name, 'a', { namespace: other.name, name: 'held' }))).toBeUndefined();
    // The VM that cloned it before stays updatable; adding the clone to another VM is refused.
    const touched = await client.mergePatch<V1VirtualMachine>(RESOURCES.vm, { namespace: ns.name, name: 'before' }, { metadata: { labels: { touched: 'yes' } } });
    expect([touched.metadata?.uid, touched.metadata?.labels?.touched]).toEqual([before.metadata?.uid, 'yes']);
    const plain = await client.create(RESOURCES.vm, cloningVM(ns.name, 'plain', { namespace: ns.name, name: 'another' }));
    const adding = { ...plain, spec: { ...plain.spec, dataVolumeTemplates: [...plain.spec!.dataVolumeTemplates!, ...cloningVM(ns.name, 'plain2', { namespace: ns.name, name: 'held' }).spec!.dataVolumeTemplates!] } };
    await expect(client.replace(RESOURCES.vm, adding)).rejects.toThrow(RETENTION_GUARD_MESSAGE);

    await guard.release([guardKey(ns.name, 'held')]);
    await expect(waitUntilAllowed(vms, cloningVM(ns.name, 'a', { namespace: ns.name, name: 'held' }))).resolves.toBeUndefined();
    expect(await refusal(dvs, cloningDV(ns.name, 'a', { namespace: ns.name, name: 'held' }))).toBeUndefined();
  });

  it('clears what an earlier term left, of its namespace only', async () => {
    await guard.hold({ [guardKey(ns.name, 'stale')]: 'left behind', [guardKey(other.name, 'kept')]: 'another controller\'s' });
    await guard.clearLeftovers(ns.name);
    const cm = await client.get<{ metadata?: object; data?: Record<string, string> }>(RESOURCES.configMap, { namespace: DEFAULT_RETENTION_GUARD_NAMESPACE, name: RETENTION_GUARD_NAME });
    expect(cm?.data?.[guardKey(ns.name, 'stale')]).toBeUndefined();
    expect(cm?.data?.[guardKey(other.name, 'kept')]).toBe('another controller\'s');
  });

  it('retries a release that failed until the entry is gone', async () => {
    const ref = { namespace: ns.name, name: 'release-retry' };
    const local = new RetentionGuard(client, ref, log);
    expect(await local.hold({ [guardKey(ns.name, 'p')]: 'held' })).toBe(true);
    // The API server refuses every update of that ConfigMap for a while (a policy of the test's own),
    // and of a probe ConfigMap that tells when the policy is in force without touching the guard's.
    const name = `${ns.name}-freeze-configmap`;
    const probe = `${ref.name}-probe`;
    await client.create(RESOURCES.configMap, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: ns.name, name: probe } });
    await client.http.request('POST', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies', {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name },
      spec: { failurePolicy: 'Fail', matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['configmaps'] }] }, validations: [{ expression: `!(object.metadata.name in ['${ref.name}', '${probe}'])`, message: 'frozen' }] },
    });
    await client.http.request('POST', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings', {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name },
      spec: { policyName: name, validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns.name } } } },
    });
    try {
      const deadline = Date.now() + 30_000;
      for (let n = 0; ; n++) {
        const frozen = await client.mergePatch(RESOURCES.configMap, { namespace: ns.name, name: probe }, { data: { n: String(n) } }).then(() => false, (err: Error) => err.message.includes('frozen'));
        if (frozen) break;
        if (Date.now() > deadline) throw new Error('the freezing policy never took effect');
        await new Promise((r) => setTimeout(r, 100));
      }
      await expect(local.release([guardKey(ns.name, 'p')])).rejects.toThrow('frozen');
      expect(local.pending).toBe(1);
    } finally {
      await client.http.request('DELETE', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${name}`);
      await client.http.request('DELETE', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${name}`);
    }
    const deadline = Date.now() + 30_000;
    while (local.pending > 0) {
      await local.flush().catch(() => undefined);
      if (Date.now() > deadline) throw new Error('the release was never retried successfully');
      await new Promise((r) => setTimeout(r, 100));
    }
    const cm = await client.get<{ metadata?: object; data?: Record<string, string> }>(RESOURCES.configMap, ref);
    expect(cm?.data?.[guardKey(ns.name, 'p')]).toBeUndefined();
  });

  it('reports a guard whose policy is not bound to its ConfigMap as not in force, and holds nowhere it cannot write', async () => {
    // A ConfigMap no binding reads: the probe is never refused.
    let probes = 0;
    const counting = new KubeClient(kubeConfig(), { qps: 0, onRequest: (method, path) => void (method === 'POST' && path.includes('dryRun') && probes++) });
    const unbound = new RetentionGuard(counting, { namespace: ns.name, name: RETENTION_GUARD_NAME }, log, { inForceTimeoutMs: 500 });
    expect(await unbound.hold({ [guardKey(ns.name, 'x')]: 'y' })).toBe(true);
    expect(await unbound.inForce(ns.name, 'x')).toBe(false);
    expect(probes).toBeGreaterThan(1);
    // Remembered for a while: the next deletion does not probe (and wait) again.
    const after = probes;
    expect(await unbound.inForce(ns.name, 'x')).toBe(false);
    expect(probes).toBe(after);
    // A namespace that does not exist: not writable, so retention goes unguarded.
    const nowhere = new RetentionGuard(client, { namespace: `${ns.name}-missing`, name: RETENTION_GUARD_NAME }, log);
    expect(await nowhere.hold({ [guardKey(ns.name, 'x')]: 'y' })).toBe(false);
  });
});

/** The policy's parameter informer sees a release a moment later: retry until allowed. */
async function waitUntilAllowed(path: string, body: unknown): Promise<string | undefined> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const message = await refusal(path, body);
    if (message === undefined || Date.now() > deadline) return message;
    await new Promise((r) => setTimeout(r, 50));
  }
}
