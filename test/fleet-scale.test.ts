// A fleet scales up and down on the real API server with simulated KubeVirt, driven by its spec
// and by `kubectl scale`; status and Events report it; deleting the fleet removes its VMs.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { FIELD_MANAGER, FLEET_FINALIZER, type VMFleet } from '../controller/fleet/reconciler.ts';
import { FLEET_LABEL, INDEX_LABEL } from '../controller/core/fleet/names.ts';
import { MAX_CREATES_PER_PLAN } from '../controller/core/fleet/rollout.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { DIGESTS, fixtureRepository, vmFleet } from './fixtures/fleets.ts';
import { kubectl } from './harness/cluster.ts';
import { fleetCluster, isCondition, type FleetCluster } from './harness/fleet.ts';
import { waitFor } from './harness/wait.ts';

let c: FleetCluster;
/** The controller's VM creates (POSTs to the VM collection), counted as it sends them. */
let vmCreates = 0;
beforeAll(async () => (c = await fleetCluster('fleetscale', { nodes: { count: 4 } }, {
  manager: { onRequest: (method, path) => void (method === 'POST' && /\/virtualmachines(\?|$)/.test(path) && vmCreates++) },
})));
afterAll(async () => c?.stop());

const running = (vms: { status?: { printableStatus?: string } }[]) => vms.filter((vm) => vm.status?.printableStatus === 'Running').length;

it('scales 0 → 10 → 3 with every VM Running, named <fleet>-<index> and owned by the fleet', async () => {
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'web', { replicas: 0 }));
  await c.waitForFleet('web', 'empty fleet reconciled', (s) => s.replicas === 0 && isCondition(s, 'Ready', 'True'));

  await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'web' }, { spec: { replicas: 10 } });
  await c.waitForFleet('web', '10 VMs ready', (s, vms) => s.readyReplicas === 10 && running(vms) === 10);
  const vms = await c.fleetVMs('web');
  expect(vms.map((vm) => vm.metadata!.name).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `web-${i}`).sort());
  const fleet = await c.client.get<VMFleet>(RESOURCES.vmFleet, { namespace: c.namespace, name: 'web' });
  expect(fleet?.metadata?.finalizers).toContain(FLEET_FINALIZER);
  for (const vm of vms) {
    expect(vm.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'VMFleet', name: 'web', uid: fleet!.metadata!.uid, controller: true })]);
    expect(vm.metadata?.labels?.[FLEET_LABEL]).toBe('web');
    expect(vm.metadata?.labels?.[INDEX_LABEL]).toBe(vm.metadata!.name!.split('-')[1]);
    // Created under the field manager (a create, so a name held by anyone is never overwritten).
    expect(vm.metadata?.managedFields?.some((m) => m.manager === FIELD_MANAGER)).toBe(true);
    expect(vm.spec.template.spec?.volumes?.[0]?.containerDisk?.image).toBe(`${fixtureRepository()}@${DIGESTS.v1}`);
  }
  const status = (await c.fleetStatus('web'))!;
  expect(status).toMatchObject({ replicas: 10, readyReplicas: 10, availableReplicas: 10, updatedReplicas: 10, imageVersion: 'v1', labelSelector: 'app=web' });
  expect(status.currentRevision).toBe(status.updateRevision);

  await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'web' }, { spec: { replicas: 3 } });
  await c.waitForFleet('web', 'scaled down to 3', (s, left) => s.replicas === 3 && left.length === 3 && running(left) === 3);
  // The default scaleDown order removes the highest indexes of equally ready VMs.
  expect((await c.fleetVMs('web')).map((vm) => vm.metadata!.name).sort()).toEqual(['web-0', 'web-1', 'web-2']);
});

it('is driven by kubectl scale through the scale subresource', async () => {
  const r = await kubectl(['scale', '-n', c.namespace, 'vmfleet/web', '--replicas=5']);
  expect(r.stderr).toBe('');
  await c.waitForFleet('web', 'scaled to 5 by kubectl', (s, vms) => s.readyReplicas === 5 && running(vms) === 5);
  const scale = await kubectl(['get', '-n', c.namespace, 'vmfleet/web', '--subresource=scale', '-o', 'jsonpath={.spec.replicas}/{.status.replicas}/{.status.selector}']);
  expect(scale.stdout).toBe('5/5/app=web');
});

it('reports what it did as Events on the fleet', async () => {
  const events = await waitFor('events', async () => {
    const list = await c.client.list<{ metadata?: { name?: string }; reason: string; message: string; involvedObject: { name: string } }>(RESOURCES.event, { namespace: c.namespace });
    const reasons = new Set(list.items.filter((e) => e.involvedObject.name === 'web').map((e) => e.reason));
    return reasons.has('Created') && reasons.has('ScaledDown') ? list.items : undefined;
  });
  expect(events.find((e) => e.reason === 'ScaledDown')?.message).toMatch(/web-9/);
  const describe = await kubectl(['describe', '-n', c.namespace, 'vmfleet/web']);
  expect(describe.stdout).toMatch(/Created\s+.*created web-/);
});

it('removes its VMs before it goes when deleted', async () => {
  await c.client.delete(RESOURCES.vmFleet, { namespace: c.namespace, name: 'web' });
  await waitFor('fleet and VMs gone', async () => {
    const [fleet, vms] = await Promise.all([c.client.get(RESOURCES.vmFleet, { namespace: c.namespace, name: 'web' }), c.fleetVMs('web')]);
    return !fleet && vms.length === 0;
  }, 90_000, 200);
});

it('scales out past one plan\'s creates in steps, each VM created once', async () => {
  const replicas = MAX_CREATES_PER_PLAN + 20;
  const fleet = vmFleet(c.namespace, 'many', { replicas });
  // Halted: the VMs alone are the test, not 520 VMIs on four simulated nodes.
  (fleet.spec as { template: { spec: { runStrategy: string } } }).template.spec.runStrategy = 'Halted';
  const createsBefore = vmCreates;
  await c.client.create(RESOURCES.vmFleet, fleet);
  await c.waitForFleet('many', `${replicas} VMs`, (s, vms) => vms.length === replicas && s.replicas === replicas);
  const names = (await c.fleetVMs('many')).map((vm) => vm.metadata!.name!).sort();
  expect(names).toEqual(Array.from({ length: replicas }, (_, i) => `many-${i}`).sort());
  // The second step's plan came from a cache that had to catch up with the first step's 500: none was sent twice.
  expect(vmCreates - createsBefore).toBe(replicas);
  await c.client.delete(RESOURCES.vmFleet, { namespace: c.namespace, name: 'many' });
  await waitFor('fleet and VMs gone', async () => !(await c.client.get(RESOURCES.vmFleet, { namespace: c.namespace, name: 'many' })) && (await c.fleetVMs('many')).length === 0, 90_000, 200);
}, 120_000);
