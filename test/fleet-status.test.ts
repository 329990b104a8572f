// What a fleet reports when it cannot proceed, how it heals VMs that cannot start, and that a
// converged set of fleets costs the API server nothing: zero writes over several resync periods.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { RESOURCES } from '../controller/kube/resources.ts';
import { FAIL_START_ANNOTATION } from '../sim/vmi/controller.ts';
import { goldenImage, vmFleet } from './fixtures/fleets.ts';
import { fleetCluster, isCondition, type FleetCluster } from './harness/fleet.ts';
import { waitFor } from './harness/wait.ts';

const RESYNC_MS = 500;
let c: FleetCluster;
/** The controller's writes to VirtualMachines, by path, dry runs left out (the simulator writes their status too). */
const vmWrites: string[] = [];
beforeAll(async () => (c = await fleetCluster('fleetstatus', { nodes: { count: 3 } }, {
  resyncMs: RESYNC_MS,
  manager: { onRequest: (method, path) => void (method !== 'GET' && path.includes('/virtualmachines/') && !path.includes('dryRun=All') && vmWrites.push(`${method} ${path}`)) },
})));
afterAll(async () => c?.stop());

const writes = () => ['POST', 'PUT', 'PATCH', 'DELETE'].reduce((n, verb) => n + (c.requests[verb] ?? 0), 0);
const events = async (fleet: string) =>
  (await c.client.list<{ metadata?: { name?: string }; type: string; reason: string; message: string; involvedObject: { name: string } }>(RESOURCES.event, { namespace: c.namespace })).items.filter((e) => e.involvedObject.name === fleet);
const ready = (n: number) => (s: { readyReplicas?: number; updatedReplicas?: number; currentRevision?: string; updateRevision?: string }) =>
  s.readyReplicas === n && s.updatedReplicas === n && s.currentRevision === s.updateRevision;

it('is Stalled while its GoldenImage is missing, and proceeds once it exists', async () => {
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'late', { replicas: 2, image: 'ubuntu' }));
  await c.waitForFleet('late', 'stalled on the image', (s) => isCondition(s, 'Stalled', 'True', 'ImageNotFound'));
  expect(await c.fleetVMs('late')).toHaveLength(0);
  await c.client.create(RESOURCES.goldenImage, goldenImage(c.namespace, 'ubuntu'));
  await c.waitForFleet('late', 'running once the image exists', (s) => ready(2)(s) && isCondition(s, 'Stalled', 'False'));
});

it('reports a template KubeVirt refuses as Stalled, with the API error, and touches nothing', async () => {
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'bad', { replicas: 2 }));
  await c.waitForFleet('bad', '2 ready', ready(2));
  const before = new Map((await c.fleetVMs('bad')).map((vm) => [vm.metadata!.name!, vm.metadata!.generation]));
  const writesBefore = vmWrites.length;
  // The VMFleet CRD keeps the template open; KubeVirt's VirtualMachine schema wants an integer.
  await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'bad' }, { spec: { image: { channel: null, version: 'v2' }, template: { spec: { template: { spec: { domain: { cpu: { sockets: 'two' } } } } } } } });
  await c.waitForFleet('bad', 'stalled on the template', (s) => isCondition(s, 'Stalled', 'True', 'InvalidTemplate'));
  const stalled = (await c.fleetStatus('bad'))!.conditions!.find((cond) => cond.type === 'Stalled')!;
  expect(stalled.message).toMatch(/refused the VirtualMachine.*sockets/);
  await new Promise((r) => setTimeout(r, 1_000));
  // Nothing sent to any VM, and no VM's spec changed (the simulator may still write their status).
  expect(vmWrites.slice(writesBefore)).toEqual([]);
  const after = new Map((await c.fleetVMs('bad')).map((vm) => [vm.metadata!.name!, vm.metadata!.generation]));
  for (const [name, generation] of before) expect(after.get(name)).toBe(generation);
  expect((await events('bad')).some((e) => e.type === 'Warning' && e.reason === 'InvalidTemplate')).toBe(true);

  await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'bad' }, { spec: { template: { spec: { template: { spec: { domain: { cpu: { sockets: 2 } } } } } } } });
  await c.waitForFleet('bad', 'rolled out once fixed', (s) => ready(2)(s) && isCondition(s, 'Stalled', 'False') && s.imageVersion === 'v2');
});

it('replaces a VM that keeps failing to start (autohealing)', async () => {
  const fleet = vmFleet(c.namespace, 'heal', { replicas: 1, vmiAnnotations: { [FAIL_START_ANNOTATION]: 'true' } });
  fleet.spec.autohealing = { startupFailureThreshold: 1, minFailingToStartDuration: '1s' };
  await c.client.create(RESOURCES.vmFleet, fleet);
  const first = await waitFor('first VM', async () => (await c.fleetVMs('heal'))[0]?.metadata?.uid);
  await waitFor('VM replaced', async () => {
    const vms = await c.fleetVMs('heal');
    return vms.some((vm) => vm.metadata?.name === 'heal-0' && vm.metadata.uid !== first);
  }, 60_000, 200);
  const healed = await waitFor('Autohealed event', async () => (await events('heal')).find((e) => e.reason === 'Autohealed'));
  expect(healed.message).toMatch(/heal-0 failed to start \d+ times in a row/);
  await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'heal' }, { spec: { template: { spec: { template: { metadata: { annotations: { [FAIL_START_ANNOTATION]: null } } } } } } });
  await c.waitForFleet('heal', 'healthy once fixed', ready(1));
});

it('makes no writes at all once converged, over several resync periods', async () => {
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'rest-a', { replicas: 3 }));
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'rest-b', { replicas: 2, minReadySeconds: 1 }));
  await c.waitForFleet('rest-a', 'rest-a converged', (s) => ready(3)(s) && isCondition(s, 'Reconciling', 'False'));
  await c.waitForFleet('rest-b', 'rest-b converged', (s) => ready(2)(s) && s.availableReplicas === 2 && isCondition(s, 'Reconciling', 'False'));
  // Let trailing status writes of the other fleets settle: converged means a quiet second.
  let last = -1;
  await waitFor('writes settle', async () => {
    const now = writes();
    const quiet = now === last;
    last = now;
    return quiet;
  }, 30_000, 1_000);
  const [writesBefore, reconcilesBefore] = [writes(), c.manager.reconciles];
  await new Promise((r) => setTimeout(r, 6 * RESYNC_MS));
  expect(c.manager.reconciles - reconcilesBefore).toBeGreaterThanOrEqual(5 * 5); // five fleets, each resynced several times
  expect(writes() - writesBefore).toBe(0);
});
