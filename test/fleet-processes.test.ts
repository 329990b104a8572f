// The controller as separate processes: SIGKILLed mid-rollout and restarted, it creates no
// duplicate VM and finishes the rollout; with two running, only the elected leader writes.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { REVISION_LABEL } from '../controller/core/fleet/names.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { startControllerProcess, type ControllerProcess } from './harness/controller-process.ts';
import { fleetCluster, sampleFleet, type FleetCluster } from './harness/fleet.ts';
import { waitFor } from './harness/wait.ts';

let c: FleetCluster;
const processes: ControllerProcess[] = [];
const start = () => {
  const p = startControllerProcess(c.namespace);
  processes.push(p);
  return p;
};
beforeAll(async () => (c = await fleetCluster('fleetproc', { nodes: { count: 4 }, speed: 10 }, { controller: false })));
afterAll(async () => {
  await Promise.all(processes.map((p) => (p.child.exitCode === null && p.child.signalCode === null ? p.kill('SIGKILL') : Promise.resolve())));
  await c?.stop();
});

const names = (n: number, fleet: string) => Array.from({ length: n }, (_, i) => `${fleet}-${i}`).sort();

it('finishes a rollout after a SIGKILL mid-way without a duplicate VM', async () => {
  const first = start();
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'kill', { replicas: 10, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } } }));
  await c.waitForFleet('kill', '10 ready', (s) => s.readyReplicas === 10 && s.updatedReplicas === 10);
  const uids = new Map((await c.fleetVMs('kill')).map((vm) => [vm.metadata!.name!, vm.metadata!.uid!]));
  const before = (await c.fleetStatus('kill'))!.updateRevision;
  const sample = await sampleFleet(c.namespace, 'kill');
  await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'kill' }, { spec: { image: { channel: null, version: 'v2' } } });
  await waitFor('rollout under way', async () => {
    const moved = (await c.fleetVMs('kill')).filter((vm) => vm.metadata!.labels![REVISION_LABEL] !== before).length;
    return moved >= 2 && moved < 10;
  }, 60_000, 20);
  await first.kill('SIGKILL');

  start();
  await c.waitForFleet('kill', 'rollout finished by the successor', (s) => s.updateRevision !== before && s.readyReplicas === 10 && s.updatedReplicas === 10 && s.currentRevision === s.updateRevision);
  sample.stop();
  const vms = await c.fleetVMs('kill');
  expect(vms.map((vm) => vm.metadata!.name!).sort()).toEqual(names(10, 'kill'));
  for (const vm of vms) expect(vm.metadata!.uid).toBe(uids.get(vm.metadata!.name!)); // restarted, never recreated
  expect(sample.maxCount()).toBe(10);
  expect(sample.maxUnavailable(10)).toBeLessThanOrEqual(2);
});

it('lets only the elected leader write when two controllers run', async () => {
  await Promise.all(processes.splice(0).map((p) => p.stop()));
  const pair = [start(), start()];
  await waitFor('a leader', () => pair.some((p) => p.led()), 30_000);
  await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'kill' }, { spec: { replicas: 12 } });
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'pair', { replicas: 3 }));
  await c.waitForFleet('pair', 'pair ready', (s) => s.readyReplicas === 3);
  await c.waitForFleet('kill', 'scaled to 12', (s) => s.readyReplicas === 12);
  const leader = pair.find((p) => p.led())!;
  const follower = pair.find((p) => p !== leader)!;
  const followerRequests = await follower.stop();
  const leaderRequests = await leader.stop();
  expect(follower.led()).toBe(false);
  expect(followerRequests).toEqual({});
  expect((leaderRequests.POST ?? 0) + (leaderRequests.PATCH ?? 0)).toBeGreaterThan(0);
});
