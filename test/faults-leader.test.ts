// The leader SIGKILLed in the middle of a migration wave, with a second replica waiting (issue 16):
// the successor takes over the wave from what the API server holds, so the per-fleet maxConcurrent
// and the migration budget are never exceeded across the handover, no migration is created twice,
// and every VM ends on a matching node by live migration (same VM, same VMI).
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { VMFleetStatus } from '../controller/api/generated/types.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { kubeConfig } from './harness/cluster.ts';
import { startControllerProcess, type ControllerProcess } from './harness/controller-process.ts';
import { fleetCluster, isCondition, type FleetCluster } from './harness/fleet.ts';
import { checkInvariants, inFlight } from './harness/invariants.ts';
import { waitFor } from './harness/wait.ts';

const REPLICAS = 8;
const MAX_CONCURRENT = 2;
const BUDGET = 3;

let c: FleetCluster;
const processes: ControllerProcess[] = [];
beforeAll(async () => (c = await fleetCluster('fleader', { nodes: { count: 8 } }, { controller: false })));
afterAll(async () => {
  await Promise.all(processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => p.kill('SIGKILL')));
  await c?.stop();
});

const node = (i: number) => `${c.namespace}-${i}`;
const label = (indexes: number[], labels: Record<string, string | null>) => Promise.all(indexes.map((i) => c.sim.nodes.label(node(i), labels)));
const noDrift = (s: VMFleetStatus) => (s.driftedReplicas ?? 0) === 0 && isCondition(s, 'Drifted', 'False') && (s.migratingReplicas ?? 0) === 0;
async function vmis(): Promise<Map<string, { uid: string; node: string }>> {
  const list = await c.client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace });
  return new Map(list.items.filter((v) => /^wave-\d+$/.test(v.metadata!.name!)).map((v) => [v.metadata!.name!, { uid: v.metadata!.uid!, node: v.status?.nodeName ?? '' }]));
}

it('keeps maxConcurrent and the budget across a leader SIGKILLed mid-wave, and duplicates no migration', async () => {
  const [oldNodes, newNodes] = [[0, 1, 2, 3], [4, 5, 6, 7]];
  await label(oldNodes, { 'wave.test/here': 'yes' });
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'wave', {
    replicas: REPLICAS,
    nodeSelector: { 'wave.test/here': 'yes' },
    updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
    remediation: { liveMigration: { maxConcurrent: MAX_CONCURRENT } },
  }));
  const pair = [startControllerProcess(c.namespace, ['--migration-budget', String(BUDGET)]), startControllerProcess(c.namespace, ['--migration-budget', String(BUDGET)])];
  processes.push(...pair);
  const leader = await waitFor('a leader', () => pair.find((p) => p.led()), 60_000, 20);
  const follower = pair.find((p) => p !== leader)!;
  await c.waitForFleet('wave', 'ready without drift', (s) => s.readyReplicas === REPLICAS && noDrift(s));
  const before = await vmis();
  const vmUids = new Map((await c.fleetVMs('wave')).map((vm) => [vm.metadata!.name!, vm.metadata!.uid!]));

  const checker = await checkInvariants({ kubeConfig: kubeConfig(), namespace: c.namespace, fleets: [{ name: 'wave', replicas: REPLICAS, maxUnavailable: 1, maxConcurrent: MAX_CONCURRENT }], migrationBudget: BUDGET });
  try {
    await label(newNodes, { 'wave.test/here': 'yes' });
    await label(oldNodes, { 'wave.test/here': null });
    // Mid-wave: migrations in flight, more VMs still to move.
    await waitFor('a migration in flight', () => checker.current().migrations.some(inFlight), 30_000, 20);
    const killedAt = Date.now();
    await leader.kill('SIGKILL');
    const movedAtKill = [...(await vmis()).values()].filter((v) => newNodes.map(node).includes(v.node)).length;
    expect(movedAtKill).toBeLessThan(REPLICAS); // the wave was not over: the follower finishes it
    await waitFor('the follower leads', () => follower.led(), 15_000, 20);
    console.log(`follower led ${Date.now() - killedAt} ms after the SIGKILL; ${movedAtKill} of ${REPLICAS} VMs had moved at the kill`);
    await waitFor('every VMI on a labelled node', async () => [...(await vmis()).values()].every((v) => newNodes.map(node).includes(v.node)), 60_000, 200);
    await c.waitForFleet('wave', 'all drift repaired', (s) => noDrift(s) && s.readyReplicas === REPLICAS, 30_000);

    const after = await vmis();
    for (const [name, was] of before) expect([name, after.get(name)?.uid]).toEqual([name, was.uid]);
    expect(new Map((await c.fleetVMs('wave')).map((vm) => [vm.metadata!.name!, vm.metadata!.uid!]))).toEqual(vmUids);
    const max = checker.maxInFlight();
    console.log(`handover: ${checker.samples()} samples, most in flight ${max.total} (fleet ${max.byFleet.wave}), ${checker.migrationNames().length} migrations`);
    expect(max.total).toBeGreaterThan(0);
    expect(checker.violations()).toEqual([]);
    expect(checker.migrationNames().length).toBeGreaterThanOrEqual(REPLICAS);
  } finally {
    checker.stop();
  }
});
