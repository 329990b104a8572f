// Rebalancing (remediation.rebalance) and the disruption window on the real API server with
// simulated KubeVirt: a fleet crowded into one zone is spread over the zones by live migration,
// within maxSkew, without restarts or ping-pong; and a non-migratable VM's fallback restart waits
// for the disruption window.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { VMFleetStatus } from '../controller/api/generated/types.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { fleetCluster, isCondition, type FleetCluster } from './harness/fleet.ts';
import { DRIFT_LABEL, sampleMigrations } from './harness/migrations.ts';

const ZONE = 'topology.kubernetes.io/zone';
let c: FleetCluster;
// Six nodes, two per zone (zone-a, zone-b, zone-c, assigned round-robin).
beforeAll(async () => (c = await fleetCluster('rebalance', { nodes: { count: 6 } })));
afterAll(async () => c?.stop());

async function vmis(fleet: string): Promise<Map<string, { uid: string; node: string }>> {
  const list = await c.client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace });
  return new Map(list.items.filter((v) => v.metadata!.name!.startsWith(`${fleet}-`)).map((v) => [v.metadata!.name!, { uid: v.metadata!.uid!, node: v.status?.nodeName ?? '' }]));
}
async function zonesOf(fleet: string): Promise<Record<string, number>> {
  const zoneOfNode = new Map((await c.client.list<{ metadata: { name: string; labels: Record<string, string> } }>(RESOURCES.node)).items.map((n) => [n.metadata.name, n.metadata.labels[ZONE]]));
  const counts: Record<string, number> = {};
  for (const v of (await vmis(fleet)).values()) counts[zoneOfNode.get(v.node) ?? '?'] = (counts[zoneOfNode.get(v.node) ?? '?'] ?? 0) + 1;
  return counts;
}
const settled = (s: VMFleetStatus) => (s.driftedReplicas ?? 0) === 0 && (s.migratingReplicas ?? 0) === 0 && isCondition(s, 'Drifted', 'False');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('spreads a fleet crowded into one zone over the zones by live migration, within maxSkew, and then stays put', async () => {
  const remediation = { liveMigration: { maxConcurrent: 2 }, rebalance: { enabled: true, topologyKey: ZONE, maxSkew: 1, coolDown: '2s' } };
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'spread', { replicas: 6, nodeSelector: { [ZONE]: 'zone-a' }, remediation }));
  await c.waitForFleet('spread', '6 ready in zone-a', (s) => s.readyReplicas === 6 && s.updatedReplicas === 6 && settled(s));
  expect(await zonesOf('spread')).toEqual({ 'zone-a': 6 });
  const before = await vmis('spread');

  const migrations = await sampleMigrations(c.namespace);
  try {
    // Lifting the zone restriction leaves every VM where it is, all six in one zone: imbalance.
    await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'spread' }, { spec: { template: { spec: { template: { spec: { nodeSelector: null } } } } } });
    await c.waitForFleet('spread', 'imbalance reported', (s) => (s.driftedReplicasByKind?.imbalance ?? 0) > 0 && isCondition(s, 'Drifted', 'True', 'Imbalance'), 20_000);
    await c.waitForFleet('spread', 'spread over the zones', (s) => s.updatedReplicas === 6 && settled(s), 60_000);
    const zones = await zonesOf('spread');
    expect(Object.values(zones).sort()).toEqual([2, 2, 2]);
    // Moved, not restarted: the same VMIs, each moved at most once, only by imbalance migrations.
    const after = await vmis('spread');
    for (const [name, was] of before) expect({ name, uid: after.get(name)?.uid }).toEqual({ name, uid: was.uid });
    const ours = migrations.records().filter((r) => r.fleet === 'spread');
    expect(ours).toHaveLength(4);
    expect(new Set(ours.map((r) => r.vmi)).size).toBe(4);
    expect(ours.every((r) => r.labels[DRIFT_LABEL] === 'imbalance' && r.finalPhase === 'Succeeded')).toBe(true);
    expect(migrations.maxInFlightOf('spread')).toBeLessThanOrEqual(2);
    // Balanced means done: no further moves after several cool-downs.
    await sleep(5_000);
    expect(migrations.records().filter((r) => r.fleet === 'spread')).toHaveLength(4);
  } finally {
    migrations.stop();
  }
});

it('holds a non-migratable VM\'s fallback restart until the disruption window opens', async () => {
  const node = (i: number) => `${c.namespace}-${i}`;
  const label = (indexes: number[], value: string | null) => Promise.all(indexes.map((i) => c.sim.nodes.label(node(i), { 'rebalance.test/win': value })));
  await label([0, 1], 'yes');
  // A window that opens once a year for a minute: closed now (unless this runs at New Year).
  const closed = { schedule: '0 0 1 1 *', duration: '1m' };
  const remediation = { liveMigration: { fallback: 'Restart' as const }, disruptionWindow: closed };
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'windowed', { replicas: 2, podBridge: true, nodeSelector: { 'rebalance.test/win': 'yes' }, remediation }));
  await c.waitForFleet('windowed', '2 ready', (s) => s.readyReplicas === 2 && s.updatedReplicas === 2 && settled(s));
  const before = await vmis('windowed');
  try {
    // The label moves to other nodes: both VMs drift, neither can migrate, the window is closed.
    await label([2, 3], 'yes');
    await label([0, 1], null);
    await c.waitForFleet('windowed', 'drift reported, waiting for the window', (s) => s.driftedReplicasByKind?.notMigratable === 2 && isCondition(s, 'Drifted', 'True', 'PlacementDrift'), 20_000);
    await sleep(3_000);
    const held = await vmis('windowed');
    for (const [name, was] of before) expect({ name, uid: held.get(name)?.uid }).toEqual({ name, uid: was.uid });
    const vm = (await c.fleetVMs('windowed'))[0]!;
    expect(vm.metadata?.annotations?.['virtfleet.io/drift']).toMatch(/remedy: Restart \(not live-migratable: InterfaceNotLiveMigratable\)/);

    // Opening the window (every minute, for an hour: open now) lets the fallback restart them.
    await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'windowed' }, { spec: { remediation: { disruptionWindow: { schedule: '* * * * *', duration: '1h' } } } });
    await c.waitForFleet('windowed', 'restarted onto the newly labelled nodes', (s) => s.readyReplicas === 2 && settled(s), 60_000);
    const after = await vmis('windowed');
    for (const [name, was] of before) {
      expect(after.get(name)?.uid).not.toBe(was.uid);
      expect([node(2), node(3)]).toContain(after.get(name)?.node);
    }
  } finally {
    await label([0, 1, 2, 3], null);
  }
});
