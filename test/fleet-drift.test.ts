// Drift detection and live-migration remediation (issue 5) on the real API server with simulated
// KubeVirt: VMs on nodes they no longer belong on (relabelled, cordoned, tainted) and VMs with a
// pending CPU hotplug are live-migrated, never restarted, within the fleet's maxConcurrent and the
// cluster-wide budget as sampled from the API server; non-migratable VMs fall back to a restart
// within maxUnavailable or are only reported; hand edits are reverted or reported; and a migration
// someone else started is waited for, never duplicated. Failure injection is in
// fleet-drift-faults.test.ts.
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import type { V1VirtualMachine, V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { VMFleetStatus } from '../controller/api/generated/types.ts';
import { VirtFleetManager } from '../controller/virtfleet.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet, type FleetOptions } from './fixtures/fleets.ts';
import { kubeConfig } from './harness/cluster.ts';
import { fleetCluster, isCondition, sampleFleet, type FleetCluster } from './harness/fleet.ts';
import { DRIFT_LABEL, endedAt, sampleMigrations, type MigrationSampler } from './harness/migrations.ts';
import { waitFor } from './harness/wait.ts';

const DRIFT_ANNOTATION = 'virtfleet.io/drift';
const BUDGET = 4;

let c: FleetCluster;
// Migrations take about 2 s real each (1 GiB guest plus launcher overhead at 30 s/GiB simulated,
// speed 20), long enough that the fleet's and the cluster's limits are actually reached.
beforeAll(async () => (c = await fleetCluster('drift', { nodes: { count: 8 }, migration: { msPerGiB: 30_000 } }, { manager: { migrationBudget: BUDGET } })));
afterAll(async () => c?.stop());

// Fleets, node labels, cordons and taints a test leaves behind are cleaned up after it, so every
// test starts from eight empty, schedulable nodes.
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const undo of cleanups.splice(0).reverse()) await undo();
});

const node = (i: number) => `${c.namespace}-${i}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface VmiState {
  uid: string;
  node: string;
  phase?: string;
  sockets?: number;
  conditions: { type: string; status: string; reason?: string }[];
}
async function vmis(fleet: string): Promise<Map<string, VmiState>> {
  const list = await c.client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace });
  const mine = list.items.filter((v) => new RegExp(`^${fleet}-\\d+$`).test(v.metadata!.name!) && !v.metadata?.deletionTimestamp);
  return new Map(mine.map((v) => [v.metadata!.name!, {
    uid: v.metadata!.uid!,
    node: v.status?.nodeName ?? '',
    ...(v.status?.phase ? { phase: v.status.phase } : {}),
    ...(v.spec.domain.cpu?.sockets !== undefined ? { sockets: v.spec.domain.cpu.sockets } : {}),
    conditions: (v.status?.conditions ?? []) as VmiState['conditions'],
  }]));
}
const events = async (fleet: string) =>
  (await c.client.list<{ metadata?: { name?: string }; type: string; reason: string; message: string; involvedObject: { name: string; kind?: string } }>(RESOURCES.event, { namespace: c.namespace })).items.filter((e) => e.involvedObject.name === fleet && e.involvedObject.kind === 'VMFleet');
const label = (indexes: number[], labels: Record<string, string | null>) => Promise.all(indexes.map((i) => c.sim.nodes.label(node(i), labels)));
const kind = (s: VMFleetStatus, k: keyof NonNullable<VMFleetStatus['driftedReplicasByKind']>) => s.driftedReplicasByKind?.[k] ?? 0;
const noDrift = (s: VMFleetStatus) => (s.driftedReplicas ?? 0) === 0 && isCondition(s, 'Drifted', 'False', 'NoDrift') && (s.migratingReplicas ?? 0) === 0;

/** Creates a fleet, removed again after the test, and waits until every VM runs and nothing drifts. */
async function runningFleet(name: string, o: FleetOptions): Promise<Map<string, VmiState>> {
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, name, o));
  cleanups.push(async () => {
    await c.client.delete(RESOURCES.vmFleet, { namespace: c.namespace, name });
    await waitFor(`${name} gone`, async () => (await c.fleetVMs(name)).length === 0 && (await vmis(name)).size === 0, 60_000, 200);
  });
  await c.waitForFleet(name, `${name} ready without drift`, (s) => s.readyReplicas === o.replicas && s.updatedReplicas === o.replicas && noDrift(s));
  const running = await vmis(name);
  expect([...running.values()].filter((v) => v.phase === 'Running' && v.node)).toHaveLength(o.replicas!);
  return running;
}

async function withMigrations<T>(body: (m: MigrationSampler) => Promise<T>): Promise<T> {
  const sampler = await sampleMigrations(c.namespace);
  try {
    return await body(sampler);
  } finally {
    sampler.stop();
  }
}

it('live-migrates 20 VMs off relabelled nodes, none restarted, within maxConcurrent and the cluster budget', async () => {
  const [oldNodes, newNodes] = [[0, 1, 2, 3], [4, 5, 6, 7]];
  await label(oldNodes, { 'drift.test/s1': 'yes' });
  cleanups.push(() => label([...oldNodes, ...newNodes], { 'drift.test/s1': null }));
  // Two fleets of 3 concurrent migrations each want 6 at once: the cluster budget of 4 binds.
  const o = { nodeSelector: { 'drift.test/s1': 'yes' }, remediation: { liveMigration: { maxConcurrent: 3 } } };
  const before = new Map([...await runningFleet('big', { replicas: 20, ...o }), ...await runningFleet('side', { replicas: 6, ...o })]);
  expect(new Set([...before.values()].map((v) => v.node))).toEqual(new Set(oldNodes.map(node)));

  await withMigrations(async (migrations) => {
    const available = await sampleFleet(c.namespace, 'big');
    await label(newNodes, { 'drift.test/s1': 'yes' });
    await label(oldNodes, { 'drift.test/s1': null });

    await c.waitForFleet('big', 'placement drift reported', (s, vms) => kind(s, 'placement') > 0 && isCondition(s, 'Drifted', 'True') && vms.some((vm) => vm.metadata?.annotations?.[DRIFT_ANNOTATION]), 30_000);
    const drifting = (await c.fleetStatus('big'))!;
    expect(drifting.conditions!.find((cond) => cond.type === 'Drifted')!.reason).toMatch(/placement/i);
    expect(drifting.driftedReplicas).toBeGreaterThanOrEqual(kind(drifting, 'placement'));

    for (const fleet of ['big', 'side']) await c.waitForFleet(fleet, `${fleet} repaired`, (s, vms) => noDrift(s) && vms.every((vm) => !vm.metadata?.annotations?.[DRIFT_ANNOTATION]), 100_000);
    available.stop();
    const after = new Map([...await vmis('big'), ...await vmis('side')]);
    for (const [name, was] of before) {
      const now = after.get(name);
      expect({ name, uid: now?.uid, onNewNode: newNodes.map(node).includes(now?.node ?? '') }).toEqual({ name, uid: was.uid, onNewNode: true });
    }
    // Moved by our migrations, one per VM, labelled with what they repaired.
    for (const name of before.keys()) {
      const fleet = name.replace(/-\d+$/, '');
      const ours = migrations.attemptsOf(name, fleet);
      expect(ours.map((r) => [r.name, r.labels[DRIFT_LABEL], r.finalPhase])).toEqual([[`${name}-migrate-1`, 'placement', 'Succeeded']]);
    }
    expect(migrations.records().filter((r) => !r.fleet && before.has(r.vmi))).toEqual([]);
    // Invariant 2, sampled at every change the API server reported: both limits reached, never exceeded.
    expect(migrations.maxInFlightOf('big')).toBe(3);
    expect(migrations.maxInFlightOf('side')).toBeLessThanOrEqual(3);
    expect(migrations.maxInFlight()).toBe(BUDGET);
    expect(migrations.overlaps()).toEqual([]);
    expect(available.maxUnavailable(20)).toBe(0);
  });
  const reasons = new Set((await events('big')).map((e) => e.reason));
  expect(reasons).toContain('MigrationStarted');
  expect(reasons).toContain('MigrationSucceeded');
  expect(reasons).not.toContain('DriftRestarted');
});

it('moves VMs off a cordoned node and off a node tainted with a taint the fleet does not tolerate', async () => {
  const nodes = [0, 1, 2, 3];
  await label(nodes, { 'drift.test/s2': 'yes' });
  await label([1], { 'drift.test/s2-tolerant': 'yes' });
  cleanups.push(() => label(nodes, { 'drift.test/s2': null, 'drift.test/s2-tolerant': null }));
  const taint = { key: 'drift.test/dedicated', value: 'db', effect: 'NoSchedule' as const };
  const before = await runningFleet('evict', { replicas: 8, nodeSelector: { 'drift.test/s2': 'yes' } });
  // A fleet that tolerates the taint stays where it is.
  const tolerantBefore = await runningFleet('tolerant', { replicas: 2, nodeSelector: { 'drift.test/s2-tolerant': 'yes' }, tolerations: [{ key: taint.key, operator: 'Equal', value: taint.value, effect: taint.effect }] });
  const hosts = new Set([...before.values()].map((v) => v.node));
  expect(hosts.has(node(0)) && hosts.has(node(1))).toBe(true);

  await withMigrations(async (migrations) => {
    await c.sim.nodes.cordon(node(0));
    cleanups.push(() => c.sim.nodes.cordon(node(0), false));
    await c.sim.nodes.taint(node(1), taint);
    cleanups.push(() => c.sim.nodes.untaint(node(1), taint.key));

    await c.waitForFleet('evict', 'placement drift reported', (s) => kind(s, 'placement') > 0 && isCondition(s, 'Drifted', 'True'), 30_000);
    await waitFor('VMs off the cordoned and the tainted node', async () => {
      const now = await vmis('evict');
      return now.size === 8 && [...now.values()].every((v) => v.node === node(2) || v.node === node(3));
    }, 60_000, 200);
    await c.waitForFleet('evict', 'evict repaired', noDrift, 30_000);
    const after = await vmis('evict');
    for (const [name, was] of before) expect([name, after.get(name)?.uid]).toEqual([name, was.uid]);
    const moved = [...before].filter(([, v]) => v.node === node(0) || v.node === node(1)).map(([name]) => name);
    for (const name of moved) expect(migrations.attemptsOf(name, 'evict').map((r) => [r.labels[DRIFT_LABEL], r.finalPhase])).toEqual([['placement', 'Succeeded']]);
    // VMs on the other nodes were left alone, and so was the fleet that tolerates the taint.
    const stayed = [...before.keys()].filter((name) => !moved.includes(name));
    for (const name of stayed) expect(migrations.attemptsOf(name)).toEqual([]);
    expect(await vmis('tolerant')).toEqual(new Map([...tolerantBefore].map(([name, v]) => [name, expect.objectContaining({ uid: v.uid, node: node(1) })])));
    expect(migrations.records().filter((r) => r.vmi.startsWith('tolerant-'))).toEqual([]);
    expect(noDrift((await c.fleetStatus('tolerant'))!)).toBe(true);
    expect(migrations.overlaps()).toEqual([]);
  });
});

it('brings raised CPU sockets (within maxSockets) to the running VMs by live migration', async () => {
  const before = await runningFleet('hotcpu', { replicas: 3, sockets: 1 });
  const revision = (await c.fleetStatus('hotcpu'))!.updateRevision;
  await withMigrations(async (migrations) => {
    await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'hotcpu' }, { spec: { template: { spec: { template: { spec: { domain: { cpu: { sockets: 3 } } } } } } } });
    await c.waitForFleet('hotcpu', 'new revision on every VM', (s) => s.updateRevision !== revision && s.updatedReplicas === 3 && s.readyReplicas === 3);
    await waitFor('sockets hotplugged on every VMI', async () => {
      const now = await vmis('hotcpu');
      return [...now.values()].every((v) => v.sockets === 3 && !v.conditions.some((cond) => cond.type === 'HotVCPUChange'));
    }, 30_000, 200);
    await c.waitForFleet('hotcpu', 'nothing drifting', (s) => s.updatedReplicas === 3 && noDrift(s), 30_000);
    const after = await vmis('hotcpu');
    const vms = new Map((await c.fleetVMs('hotcpu')).map((vm) => [vm.metadata!.name!, vm]));
    for (const [name, was] of before) {
      expect(after.get(name)?.uid).toBe(was.uid);
      expect(vms.get(name)?.spec.template.spec?.domain.cpu?.sockets).toBe(3);
      expect(vms.get(name)?.status?.conditions?.filter((cond) => cond.type === 'RestartRequired' && cond.status === 'True')).toEqual([]);
      expect(migrations.attemptsOf(name, 'hotcpu').map((r) => [r.labels[DRIFT_LABEL], r.finalPhase])).toEqual([['pendingLiveUpdate', 'Succeeded']]);
    }
    expect(migrations.maxInFlightOf('hotcpu')).toBeLessThanOrEqual(2); // the default maxConcurrent
  });
  expect((await events('hotcpu')).map((e) => e.reason)).not.toContain('DriftRestarted');
});

it('restarts a non-migratable VM within maxUnavailable under fallback Restart, and only reports it under None', async () => {
  const [oldNodes, newNodes] = [[0, 1], [2, 3]];
  await label(oldNodes, { 'drift.test/s4': 'yes' });
  cleanups.push(() => label([...oldNodes, ...newNodes], { 'drift.test/s4': null }));
  // A bridge on the pod network makes the VMI LiveMigratable=False (InterfaceNotLiveMigratable).
  const o = { podBridge: true, nodeSelector: { 'drift.test/s4': 'yes' }, updateStrategy: { type: 'RollingUpdate' as const, rollingUpdate: { maxUnavailable: 1 } } };
  const restartsBefore = await runningFleet('restarts', { replicas: 3, ...o, remediation: { liveMigration: { fallback: 'Restart' } } });
  const reportsBefore = await runningFleet('reports', { replicas: 2, ...o, remediation: { liveMigration: { fallback: 'None' } } });
  const notMigratable = await vmis('reports');
  expect([...notMigratable.values()].every((v) => v.conditions.some((cond) => cond.type === 'LiveMigratable' && cond.status === 'False'))).toBe(true);

  await withMigrations(async (migrations) => {
    const available = await sampleFleet(c.namespace, 'restarts');
    await label(newNodes, { 'drift.test/s4': 'yes' });
    await label(oldNodes, { 'drift.test/s4': null });

    // Fallback Restart: new VMIs on matching nodes, at most one VM down at a time.
    await waitFor('restarts restarted onto matching nodes', async () => {
      const now = await vmis('restarts');
      return now.size === 3 && [...now].every(([name, v]) => v.uid !== restartsBefore.get(name)!.uid && v.phase === 'Running' && newNodes.map(node).includes(v.node));
    }, 60_000, 200);
    await c.waitForFleet('restarts', 'restarts repaired and ready', (s) => s.readyReplicas === 3 && noDrift(s), 30_000);
    available.stop();
    expect(available.maxUnavailable(3)).toBe(1);
    expect(available.maxCount()).toBe(3);
    expect((await events('restarts')).map((e) => e.reason)).toContain('DriftRestarted');

    // Fallback None: reported as drifted and not migratable, on the status, the condition and the VM, and left running.
    await c.waitForFleet('reports', 'reports reported', (s, vms) =>
      kind(s, 'notMigratable') === 2 && s.driftedReplicas === 2 && isCondition(s, 'Drifted', 'True')
      && vms.every((vm) => !!vm.metadata?.annotations?.[DRIFT_ANNOTATION]), 30_000);
    await sleep(3_000);
    const status = (await c.fleetStatus('reports'))!;
    expect([status.driftedReplicas, kind(status, 'notMigratable')]).toEqual([2, 2]);
    expect(await vmis('reports')).toEqual(new Map([...reportsBefore].map(([name, v]) => [name, expect.objectContaining({ uid: v.uid, node: v.node, phase: 'Running' })])));
    expect((await events('reports')).map((e) => e.reason)).toContain('NotMigratable');
    expect((await events('reports')).map((e) => e.reason)).not.toContain('DriftRestarted');
    // Neither fleet tried a migration KubeVirt would refuse.
    expect(migrations.records().filter((r) => /^(restarts|reports)-\d+$/.test(r.vmi))).toEqual([]);
  });
});

it('reverts a hand edit of a managed VM under manualEdits Revert, and only reports it under Report', async () => {
  await runningFleet('edited', { replicas: 2 });
  const appLabel = (vm: V1VirtualMachine | undefined) => vm?.spec.template.metadata?.labels?.app;
  const getVM = (name: string) => c.client.get<V1VirtualMachine>(RESOURCES.vm, { namespace: c.namespace, name });
  const handEdit = (name: string) => c.client.mergePatch(RESOURCES.vm, { namespace: c.namespace, name }, { spec: { template: { metadata: { labels: { app: 'by-hand' } } } } });

  await handEdit('edited-0');
  await waitFor('hand edit reverted', async () => appLabel(await getVM('edited-0')) === 'edited', 30_000, 100);
  await waitFor('ManualEditReverted event', async () => (await events('edited')).find((e) => e.reason === 'ManualEditReverted' && /edited-0/.test(e.message)), 30_000, 200);
  await c.waitForFleet('edited', 'no drift after the revert', noDrift, 30_000);

  await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'edited' }, { spec: { remediation: { manualEdits: 'Report' } } });
  await waitFor('Report observed', async () => {
    const fleet = await c.client.get<{ metadata?: { name?: string; generation?: number }; status?: VMFleetStatus }>(RESOURCES.vmFleet, { namespace: c.namespace, name: 'edited' });
    return fleet?.status?.observedGeneration === fleet?.metadata?.generation;
  }, 30_000, 100);
  await handEdit('edited-1');
  await c.waitForFleet('edited', 'hand edit reported', (s) => kind(s, 'manualEdit') === 1 && s.driftedReplicas === 1 && isCondition(s, 'Drifted', 'True'), 30_000);
  expect((await c.fleetStatus('edited'))!.conditions!.find((cond) => cond.type === 'Drifted')!.reason).toMatch(/manual/i);
  await waitFor('ManualEditDetected event', async () => (await events('edited')).find((e) => e.reason === 'ManualEditDetected' && /edited-1/.test(e.message)), 30_000, 200);
  await sleep(2_000);
  const vm = await getVM('edited-1');
  expect(appLabel(vm)).toBe('by-hand');
  expect(vm?.metadata?.annotations?.[DRIFT_ANNOTATION]).toMatch(/manual/i);
  expect(appLabel(await getVM('edited-0'))).toBe('edited');
  expect(kind((await c.fleetStatus('edited'))!, 'manualEdit')).toBe(1);
});

it('waits for a migration someone else started instead of starting its own for that VMI', async () => {
  const [oldNodes, newNodes] = [[0, 1], [2, 3]];
  await label(oldNodes, { 'drift.test/s7': 'yes' });
  cleanups.push(() => label([...oldNodes, ...newNodes], { 'drift.test/s7': null }));
  const before = await runningFleet('waits', { replicas: 3, nodeSelector: { 'drift.test/s7': 'yes' } });

  await withMigrations(async (migrations) => {
    // A user's migration that cannot find a target: KubeVirt keeps it Scheduling for 5 simulated
    // minutes (15 s here) before failing it.
    const foreign: V1VirtualMachineInstanceMigration = {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachineInstanceMigration',
      metadata: { name: 'by-hand-waits-0', namespace: c.namespace },
      spec: { vmiName: 'waits-0', addedNodeSelector: { 'drift.test/nowhere': 'yes' } },
    };
    await c.client.create(RESOURCES.vmim, foreign);
    await waitFor('foreign migration Scheduling', async () => (await c.client.get<V1VirtualMachineInstanceMigration>(RESOURCES.vmim, { namespace: c.namespace, name: 'by-hand-waits-0' }))?.status?.phase === 'Scheduling', 10_000, 100);
    await label(newNodes, { 'drift.test/s7': 'yes' });
    await label(oldNodes, { 'drift.test/s7': null });

    await waitFor('the other VMs repaired', async () => {
      const now = await vmis('waits');
      return ['waits-1', 'waits-2'].every((name) => newNodes.map(node).includes(now.get(name)?.node ?? ''));
    }, 30_000, 200);
    // Still waiting: the foreign migration is in flight and the fleet has not touched waits-0.
    await c.waitForFleet('waits', 'waits-0 reported drifted and migrating', (s, vms) =>
      kind(s, 'placement') === 1 && s.driftedReplicas === 1 && s.migratingReplicas === 1
      && !!vms.find((vm) => vm.metadata?.name === 'waits-0')?.metadata?.annotations?.[DRIFT_ANNOTATION], 8_000);
    const user = migrations.records().find((r) => r.name === 'by-hand-waits-0')!;
    expect(user.finishedAt).toBeUndefined();
    expect(migrations.attemptsOf('waits-0')).toEqual([]);

    // Once it has failed, the fleet repairs waits-0 with its own migration.
    await c.waitForFleet('waits', 'waits repaired', noDrift, 60_000);
    const after = await vmis('waits');
    for (const [name, was] of before) expect([name, after.get(name)?.uid, newNodes.map(node).includes(after.get(name)?.node ?? '')]).toEqual([name, was.uid, true]);
    expect(user.finalPhase).toBe('Failed');
    const ours = migrations.attemptsOf('waits-0', 'waits');
    expect(ours.map((r) => r.finalPhase)).toEqual(['Succeeded']);
    expect(ours[0]!.seenAt).toBeGreaterThanOrEqual(endedAt(user));
    expect(migrations.overlaps()).toEqual([]);
  });
});

it('a controller restart in the middle of a repair duplicates no migration (invariant 5)', async () => {
  const nodes = [0, 1, 2, 3];
  await label(nodes, { 'drift.test/s7': 'yes' });
  cleanups.push(() => label([...nodes, 4, 5, 6, 7], { 'drift.test/s7': null }));
  const before = await runningFleet('restarted', { replicas: 8, nodeSelector: { 'drift.test/s7': 'yes' }, remediation: { liveMigration: { maxConcurrent: 2 } } });
  await withMigrations(async (migrations) => {
    await label([4, 5, 6, 7], { 'drift.test/s7': 'yes' });
    await label(nodes, { 'drift.test/s7': null });
    await waitFor('a migration in flight', async () => migrations.inFlight().some((r) => r.fleet === 'restarted'), 20_000, 50);
    // The controller goes away mid-repair and a new one (fresh caches, no memory) takes over.
    await c.manager.stop();
    const successor = new VirtFleetManager({ kubeConfig: kubeConfig(), namespace: c.namespace, qps: 0, migrationBudget: BUDGET, migrationBudgetScope: 'namespace', log: { info: () => undefined, error: () => undefined } });
    await successor.start();
    cleanups.push(async () => {
      await successor.stop();
      await c.manager.start();
    });
    await c.waitForFleet('restarted', 'repaired by the successor', (s) => noDrift(s), 100_000);
    const after = await vmis('restarted');
    for (const [name, was] of before) {
      expect({ name, uid: after.get(name)?.uid, moved: [4, 5, 6, 7].map(node).includes(after.get(name)?.node ?? '') }).toEqual({ name, uid: was.uid, moved: true });
      expect(migrations.attemptsOf(name, 'restarted').map((r) => [r.name, r.finalPhase])).toEqual([[`${name}-migrate-1`, 'Succeeded']]);
    }
    expect(migrations.overlaps()).toEqual([]);
    expect(migrations.maxInFlightOf('restarted')).toBeLessThanOrEqual(2);
  });
});
