// Writes the API server refuses, on the real API server with simulated KubeVirt: an admission
// policy that denies live migrations costs a bounded number of creates with backoff and one
// correlated Event, the fleet reports it as Stalled, and repairs the drift once the policy goes;
// an action that fails outright still ends its reconcile with a status write that says so.
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { fleetCluster, isCondition, type FleetCluster } from './harness/fleet.ts';
import { waitFor } from './harness/wait.ts';

let c: FleetCluster;
const migrationCreates: number[] = [];
beforeAll(async () => {
  c = await fleetCluster('refuse', { nodes: { count: 3 } }, {
    manager: {
      migrationBackoff: { baseMs: 300, maxMs: 1_000 },
      onRequest: (method, path) => void (method === 'POST' && path.includes('/virtualmachineinstancemigrations') && migrationCreates.push(Date.now())),
    },
  });
});
afterAll(async () => c?.stop());
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const undo of cleanups.splice(0).reverse()) await undo();
});

const VAP = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies';
const BINDINGS = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings';

/** A ValidatingAdmissionPolicy, bound to the test's namespace, that denies `operation` on `resource` (probed on the object `probeVM` names). */
async function deny(resource: string, operation: 'CREATE' | 'DELETE', message: string, probeVM = 'nothing'): Promise<() => Promise<void>> {
  const name = `${c.namespace}-deny-${resource}-${operation.toLowerCase()}`;
  await c.client.http.request('POST', VAP, {
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: { resourceRules: [{ apiGroups: ['kubevirt.io'], apiVersions: ['*'], operations: [operation], resources: [resource] }] },
      validations: [{ expression: 'false', message }],
    },
  });
  await c.client.http.request('POST', BINDINGS, {
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name },
    spec: { policyName: name, validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': c.namespace } } } },
  });
  // The policy takes effect once the API server has compiled it: probe with a dry run.
  const probe = resource === 'virtualmachineinstancemigrations'
    ? () => c.client.http.request('POST', `/apis/kubevirt.io/v1/namespaces/${c.namespace}/virtualmachineinstancemigrations?dryRun=All`, { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: 'probe' }, spec: { vmiName: 'nothing' } })
    : () => c.client.http.request('DELETE', `/apis/kubevirt.io/v1/namespaces/${c.namespace}/${resource}/${probeVM}?dryRun=All`);
  await waitFor(`${name} in force`, () => probe().then(() => false, (err: Error) => err.message.includes(message)), 30_000, 100);
  return async () => {
    await c.client.http.request('DELETE', `${BINDINGS}/${name}`).catch(() => undefined);
    await c.client.http.request('DELETE', `${VAP}/${name}`).catch(() => undefined);
  };
}

const node = (i: number) => `${c.namespace}-${i}`;
const vmiNode = async (name: string) => (await c.client.get<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace, name }))?.status?.nodeName;
const fleetEvents = async (fleet: string) =>
  (await c.client.list<{ metadata?: { name?: string }; type: string; reason: string; message: string; count?: number; involvedObject: { name: string; kind?: string } }>(RESOURCES.event, { namespace: c.namespace })).items.filter((e) => e.involvedObject.name === fleet && e.involvedObject.kind === 'VMFleet');

it('backs off from a denied migration, reports it once, and repairs the drift once allowed', async () => {
  await Promise.all([0, 1, 2].map((i) => c.sim.nodes.label(node(i), { pool: 'a' })));
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'mig', { replicas: 1, nodeSelector: { pool: 'a' } }));
  cleanups.push(() => c.client.delete(RESOURCES.vmFleet, { namespace: c.namespace, name: 'mig' }));
  await c.waitForFleet('mig', 'ready', (s) => s.readyReplicas === 1 && isCondition(s, 'Drifted', 'False'));
  const from = (await vmiNode('mig-0'))!;

  const allow = await deny('virtualmachineinstancemigrations', 'CREATE', 'live migrations are frozen for maintenance');
  cleanups.push(allow);
  const start = Date.now();
  await c.sim.nodes.label(from, { pool: null });
  await c.waitForFleet('mig', 'stalled on refused migrations', (s) => isCondition(s, 'Stalled', 'True', 'MigrationRefused'), 30_000);
  const stalledAfter = migrationCreates.length;
  expect(stalledAfter).toBeGreaterThanOrEqual(5);
  // Keeps trying at the capped backoff (1 s here), never faster.
  await new Promise((r) => setTimeout(r, 3_000));
  const elapsed = (Date.now() - start) / 1000;
  const tries = migrationCreates.length;
  expect(tries - stalledAfter).toBeLessThanOrEqual(4);
  expect(tries).toBeLessThanOrEqual(5 + Math.ceil(elapsed));
  const status = (await c.fleetStatus('mig'))!;
  expect(status.conditions?.find((x) => x.type === 'Stalled')?.message).toMatch(/^live migration of mig-0 refused 5 or more times in a row .*frozen for maintenance$/);
  // One Event for all the refusals, its count rising, never one per try.
  const refusals = (await fleetEvents('mig')).filter((e) => e.message.startsWith('the API server refused the live migration of'));
  expect(refusals).toHaveLength(1);
  expect(refusals[0]!.count).toBeGreaterThan(1);
  expect((await vmiNode('mig-0'))).toBe(from); // not restarted or moved behind the policy's back

  await allow();
  await c.waitForFleet('mig', 'repaired once allowed', (s) => isCondition(s, 'Stalled', 'False') && isCondition(s, 'Drifted', 'False'), 30_000);
  expect(await vmiNode('mig-0')).not.toBe(from);

  // What the controller remembered of the refusals and the migration goes with the fleet.
  const memory = c.manager.reconciler!.memorySizes();
  expect(memory.aborted).toBeGreaterThan(0);
  expect(memory.seen).toBeGreaterThan(0);
  await c.client.delete(RESOURCES.vmFleet, { namespace: c.namespace, name: 'mig' });
  await waitFor('memory empty once the fleet is gone', () => Object.values(c.manager.reconciler!.memorySizes()).every((n) => n === 0), 60_000, 100);
});

it('writes status even when an action fails, saying why, and converges once it can', async () => {
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'down', { replicas: 2 }));
  cleanups.push(() => c.client.delete(RESOURCES.vmFleet, { namespace: c.namespace, name: 'down' }));
  await c.waitForFleet('down', 'ready', (s) => s.readyReplicas === 2);

  const allow = await deny('virtualmachines', 'DELETE', 'deleting VMs is frozen for maintenance', 'down-0');
  cleanups.push(allow);
  await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'down' }, { spec: { replicas: 1 } });
  await c.waitForFleet('down', 'the failure reported', (s) => s.observedGeneration === 2 && isCondition(s, 'Reconciling', 'True', 'ActionFailed'), 30_000);
  const status = (await c.fleetStatus('down'))!;
  expect(status.conditions?.find((x) => x.type === 'Reconciling')?.message).toMatch(/deleting VMs is frozen for maintenance/);
  expect(status.replicas).toBe(2);

  await allow();
  await c.waitForFleet('down', 'scaled down once allowed', (s, vms) => s.replicas === 1 && vms.length === 1 && isCondition(s, 'Reconciling', 'False'), 30_000);
});

it('retries a restart whose VMI delete was refused, once allowed, instead of waiting for a restart that never began', async () => {
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'frozen', { replicas: 2, version: 'v1', updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } } }));
  cleanups.push(() => c.client.delete(RESOURCES.vmFleet, { namespace: c.namespace, name: 'frozen' }));
  await c.waitForFleet('frozen', 'ready on v1', (s) => s.readyReplicas === 2 && s.imageVersion === 'v1');

  const allow = await deny('virtualmachineinstances', 'DELETE', 'restarts are frozen for maintenance', 'frozen-0');
  cleanups.push(allow);
  await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'frozen' }, { spec: { image: { version: 'v2' } } });
  await c.waitForFleet('frozen', 'the refused restart reported', (s) => isCondition(s, 'Reconciling', 'True', 'ActionFailed'), 30_000);
  expect((await c.fleetStatus('frozen'))?.conditions?.find((x) => x.type === 'Reconciling')?.message).toMatch(/restarts are frozen for maintenance/);

  await allow();
  // Well within the minutes a restart is awaited for: the refused one was not counted as begun.
  await c.waitForFleet('frozen', 'rolled out to v2 once allowed', (s) => s.updatedReplicas === 2 && s.readyReplicas === 2 && s.imageVersion === 'v2' && s.currentRevision === s.updateRevision, 45_000);
});
