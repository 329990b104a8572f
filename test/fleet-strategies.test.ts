// The other ways a fleet changes: OnDelete leaves running VMs alone until someone deletes them,
// paused holds a rollout while scaling goes on, and a changed dataVolumeTemplates recreates VMs.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { REVISION_LABEL } from '../controller/core/fleet/names.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { fleetCluster, isCondition, type FleetCluster } from './harness/fleet.ts';
import { waitFor } from './harness/wait.ts';

let c: FleetCluster;
beforeAll(async () => (c = await fleetCluster('strategies', { nodes: { count: 3 } })));
afterAll(async () => c?.stop());

const patchSpec = (name: string, spec: unknown) => c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name }, { spec });
const uids = async (name: string) => new Map((await c.fleetVMs(name)).map((vm) => [vm.metadata!.name!, vm.metadata!.uid!]));
const vmiUids = async () => new Map((await c.client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace })).items.map((v) => [v.metadata!.name!, v.metadata!.uid!]));
const settle = () => new Promise((r) => setTimeout(r, 2_000));

it('OnDelete: a new revision reaches only the VMs someone deletes', async () => {
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'od', { replicas: 3, updateStrategy: { type: 'OnDelete' } }));
  await c.waitForFleet('od', '3 ready', (s) => s.readyReplicas === 3);
  const first = (await c.fleetStatus('od'))!.updateRevision;
  const vmis = await vmiUids();
  await patchSpec('od', { image: { channel: null, version: 'v2' } });
  await c.waitForFleet('od', 'new revision known', (s) => s.updateRevision !== first && s.imageVersion === 'v2');
  await settle();
  expect((await c.fleetVMs('od')).every((vm) => vm.metadata!.labels![REVISION_LABEL] === first)).toBe(true);
  const now = await vmiUids();
  for (const name of ['od-0', 'od-1', 'od-2']) expect(now.get(name)).toBe(vmis.get(name));
  expect((await c.fleetStatus('od'))!.updatedReplicas).toBe(0);

  await c.client.delete(RESOURCES.vm, { namespace: c.namespace, name: 'od-1' });
  await c.waitForFleet('od', 'od-1 back at the new revision', (s, vms) => s.readyReplicas === 3 && s.updatedReplicas === 1 && vms.find((vm) => vm.metadata!.name === 'od-1')?.metadata!.labels![REVISION_LABEL] === s.updateRevision);
});

it('paused: the rollout waits, scaling does not, and resuming finishes it', async () => {
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'hold', { replicas: 2 }));
  await c.waitForFleet('hold', '2 ready', (s) => s.readyReplicas === 2);
  const first = (await c.fleetStatus('hold'))!.updateRevision;
  await patchSpec('hold', { paused: true, replicas: 3, image: { channel: null, version: 'v2' } });
  await c.waitForFleet('hold', 'paused and scaled', (s) => isCondition(s, 'Progressing', 'Unknown', 'RolloutPaused') && s.readyReplicas === 3);
  const revisions = new Map((await c.fleetVMs('hold')).map((vm) => [vm.metadata!.name!, vm.metadata!.labels![REVISION_LABEL]]));
  expect([revisions.get('hold-0'), revisions.get('hold-1')]).toEqual([first, first]);
  expect(revisions.get('hold-2')).not.toBe(first); // new VMs are always stamped at the new revision
  await patchSpec('hold', { paused: false });
  await c.waitForFleet('hold', 'resumed and done', (s) => s.updatedReplicas === 3 && s.readyReplicas === 3 && s.currentRevision === s.updateRevision);
});

it('recreates VMs whose dataVolumeTemplates changed', async () => {
  const fleet = vmFleet(c.namespace, 'disk', { replicas: 2 });
  const vmSpec = fleet.spec.template.spec;
  vmSpec.dataVolumeTemplates = [{ metadata: { name: 'scratch' }, spec: { source: { blank: {} }, storage: { resources: { requests: { storage: '1Gi' } } } } }];
  vmSpec.template.spec!.domain.devices.disks!.push({ name: 'scratch', disk: { bus: 'virtio' } });
  vmSpec.template.spec!.volumes!.push({ name: 'scratch', dataVolume: { name: 'scratch' } });
  await c.client.create(RESOURCES.vmFleet, fleet);
  await c.waitForFleet('disk', '2 ready', (s) => s.readyReplicas === 2);
  const vm0 = (await c.fleetVMs('disk')).find((vm) => vm.metadata!.name === 'disk-0')!;
  expect(vm0.spec.dataVolumeTemplates?.[0]?.metadata?.name).toBe('scratch-0');
  const before = await uids('disk');
  const first = (await c.fleetStatus('disk'))!.updateRevision;
  vmSpec.dataVolumeTemplates[0]!.spec.storage!.resources!.requests!.storage = '2Gi';
  await patchSpec('disk', { template: { spec: { dataVolumeTemplates: vmSpec.dataVolumeTemplates } } });
  await c.waitForFleet('disk', 'recreated', (s) => s.updateRevision !== first && s.updatedReplicas === 2 && s.readyReplicas === 2 && s.currentRevision === s.updateRevision);
  const after = await uids('disk');
  for (const [name, uid] of before) expect(after.get(name)).not.toBe(uid);
  const events = await waitFor('Recreated event', async () => (await c.client.list<{ metadata?: { name?: string }; reason: string; involvedObject: { name: string } }>(RESOURCES.event, { namespace: c.namespace })).items.find((e) => e.involvedObject.name === 'disk' && e.reason === 'Recreated'));
  expect(events).toBeDefined();
});
