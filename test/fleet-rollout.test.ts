// Rollouts on the real API server with simulated KubeVirt: maxUnavailable is never exceeded as
// observed from the API server, maxSurge and partition behave like a Deployment's and a
// StatefulSet's, and pauseOnFailure halts on VMs that fail to start until the template is fixed.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { REVISION_LABEL } from '../controller/core/fleet/names.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { FAIL_START_ANNOTATION } from '../sim/vmi/controller.ts';
import { DIGESTS, fixtureRepository, vmFleet, type FleetOptions } from './fixtures/fleets.ts';
import { fleetCluster, isCondition, sampleFleet, type FleetCluster } from './harness/fleet.ts';

let c: FleetCluster;
beforeAll(async () => (c = await fleetCluster('rollout', { nodes: { count: 4 } })));
afterAll(async () => c?.stop());

const patchSpec = (name: string, spec: unknown) => c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name }, { spec });
const vmiUids = async (name: string) => {
  const vmis = await c.client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace });
  return new Map(vmis.items.filter((v) => v.metadata!.name!.startsWith(`${name}-`)).map((v) => [v.metadata!.name!, v.metadata!.uid!]));
};
async function readyFleet(name: string, o: FleetOptions) {
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, name, o));
  await c.waitForFleet(name, `${name} ready`, (s) => s.readyReplicas === o.replicas && s.updatedReplicas === o.replicas);
  return (await c.fleetStatus(name))!;
}
const rolledOut = (replicas: number) => (s: { readyReplicas?: number; updatedReplicas?: number; replicas?: number; currentRevision?: string; updateRevision?: string }) =>
  s.replicas === replicas && s.readyReplicas === replicas && s.updatedReplicas === replicas && s.currentRevision === s.updateRevision;

it('rolls a restart-required change through 10 VMs never more than maxUnavailable: 2 down', async () => {
  const before = await readyFleet('roll', { replicas: 10, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } } });
  const vmUidsBefore = new Map((await c.fleetVMs('roll')).map((vm) => [vm.metadata!.name!, vm.metadata!.uid!]));
  const vmisBefore = await vmiUids('roll');
  const sample = await sampleFleet(c.namespace, 'roll');
  await patchSpec('roll', { image: { channel: null, version: 'v2' } });
  await c.waitForFleet('roll', 'rolled out to v2', (s) => s.updateRevision !== before.updateRevision && rolledOut(10)(s));
  sample.stop();
  const vms = await c.fleetVMs('roll');
  const after = (await c.fleetStatus('roll'))!;
  expect(after.imageVersion).toBe('v2');
  expect(sample.maxUnavailable(10)).toBeLessThanOrEqual(2);
  expect(sample.maxUnavailable(10)).toBeGreaterThan(0);
  expect(sample.maxCount()).toBe(10);
  // Restarted in place: the same VMs (uids), new VMIs, every one at the new image.
  const vmisAfter = await vmiUids('roll');
  for (const vm of vms) {
    expect(vm.metadata?.uid).toBe(vmUidsBefore.get(vm.metadata!.name!));
    expect(vmisAfter.get(vm.metadata!.name!)).not.toBe(vmisBefore.get(vm.metadata!.name!));
    expect(vm.metadata?.labels?.[REVISION_LABEL]).toBe(after.updateRevision);
    expect(vm.spec.template.spec?.volumes?.[0]?.containerDisk?.image).toBe(`${fixtureRepository()}@${DIGESTS.v2}`);
  }
  expect(isCondition(after, 'Progressing', 'True', 'NewRevisionAvailable')).toBe(true);
});

it('surges above replicas with maxSurge and keeps every VM available with maxUnavailable: 0', async () => {
  await readyFleet('surge', { replicas: 4, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } } });
  const sample = await sampleFleet(c.namespace, 'surge');
  await patchSpec('surge', { image: { channel: null, version: 'v2' } });
  await c.waitForFleet('surge', 'surge rollout done', (s, vms) => rolledOut(4)(s) && vms.length === 4);
  sample.stop();
  expect(sample.maxUnavailable(4)).toBe(0);
  expect(sample.maxCount()).toBe(5);
});

it('updates only indexes at or above the partition, then the rest when it is lowered', async () => {
  const before = await readyFleet('canary', { replicas: 4, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, partition: 2 } } });
  await patchSpec('canary', { image: { channel: null, version: 'v2' } });
  await c.waitForFleet('canary', 'canaries updated', (s, vms) => s.updatedReplicas === 2 && s.readyReplicas === 4 && vms.filter((vm) => vm.status?.ready).length === 4);
  const byIndex = new Map((await c.fleetVMs('canary')).map((vm) => [vm.metadata!.name!, vm.metadata!.labels![REVISION_LABEL]]));
  const status = (await c.fleetStatus('canary'))!;
  expect([byIndex.get('canary-0'), byIndex.get('canary-1')]).toEqual([before.updateRevision, before.updateRevision]);
  expect([byIndex.get('canary-2'), byIndex.get('canary-3')]).toEqual([status.updateRevision, status.updateRevision]);
  await patchSpec('canary', { updateStrategy: { rollingUpdate: { partition: 0 } } });
  await c.waitForFleet('canary', 'all updated', rolledOut(4));
});

it('halts a rollout whose new VMs fail to start, and resumes when the template is fixed', async () => {
  const before = await readyFleet('pause', { replicas: 4, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, pauseOnFailure: true } } });
  const broken = vmFleet(c.namespace, 'pause', { version: 'v2', vmiAnnotations: { [FAIL_START_ANNOTATION]: 'true' } }).spec;
  await patchSpec('pause', { image: { channel: null, version: 'v2' }, template: broken.template });
  await c.waitForFleet('pause', 'rollout halted', (s) => isCondition(s, 'Stalled', 'True', 'RolloutHalted') && isCondition(s, 'Progressing', 'False', 'RolloutHalted'));
  // Hold for a while: the halt must hold, with the three untouched VMs still on the old revision and ready.
  await new Promise((r) => setTimeout(r, 3_000));
  const vms = await c.fleetVMs('pause');
  const old = vms.filter((vm) => vm.metadata!.labels![REVISION_LABEL] === before.updateRevision);
  expect(old).toHaveLength(3);
  expect(old.every((vm) => vm.status?.ready)).toBe(true);
  const status = (await c.fleetStatus('pause'))!;
  expect(status.conditions?.find((cond) => cond.type === 'Stalled')?.message).toMatch(/pause-3 failed to become Ready/);

  await patchSpec('pause', { template: { spec: { template: { metadata: { annotations: { [FAIL_START_ANNOTATION]: null } } } } } });
  await c.waitForFleet('pause', 'rollout resumed and done', (s) => rolledOut(4)(s) && isCondition(s, 'Stalled', 'False'));
});
