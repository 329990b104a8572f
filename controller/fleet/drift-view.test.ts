import { describe, expect, it } from '@jest/globals';
import type { V1VirtualMachine, V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import type { VMShape } from '../core/fleet/classify.ts';
import { planRemediation, remediationSpecOf, DEFAULT_BACKOFF } from '../core/fleet/migration.ts';
import { rebalanceSpecOf } from '../core/fleet/rebalance.ts';
import { driftSummary, driftView, migrationOutcomes, type DriftViewInput } from './drift-view.ts';
import { fleetStatus } from './status.ts';

const fleet = { name: 'web', namespace: 'ns', uid: 'fleet-uid' };
const spec = (sockets = 1): VMShape['spec'] => ({ runStrategy: 'Always', template: { metadata: { labels: { app: 'web' } }, spec: { nodeSelector: { tier: 'web' }, domain: { cpu: { sockets }, devices: {} } } } });
const vm = (name: string, over: Partial<V1VirtualMachine['spec']> = {}, revision = 'r1'): V1VirtualMachine => ({
  metadata: { name, namespace: 'ns', labels: { 'virtfleet.io/revision': revision } },
  spec: { ...spec(), ...over },
});
const node = (name: string, labels: Record<string, string>, extra: Partial<V1Node['spec']> = {}): V1Node => ({
  metadata: { name, labels },
  spec: extra,
  status: { conditions: [{ type: 'Ready', status: 'True' }] as never },
});
const vmi = (name: string, nodeName: string, conditions: { type: string; status: string; reason?: string }[] = [], state?: object): V1VirtualMachineInstance => ({
  metadata: { name, namespace: 'ns', uid: `${name}-uid` },
  spec: { domain: { devices: {} }, nodeSelector: { tier: 'web' } },
  status: { phase: 'Running', nodeName, conditions: [{ type: 'LiveMigratable', status: 'True' }, ...conditions] as never, ...(state ? { migrationState: state } : {}) },
});
const migration = (name: string, vmiName: string, phase: string, labels: Record<string, string> = {}, uid = `${name}-uid`): V1VirtualMachineInstanceMigration => ({
  metadata: { name, namespace: 'ns', uid, labels, creationTimestamp: '2026-01-01T00:00:00Z' as never, ...(labels['virtfleet.io/fleet'] ? { ownerReferences: [{ apiVersion: 'virtfleet.io/v1alpha1', kind: 'VMFleet', name: 'web', uid: 'fleet-uid' }] } : {}) },
  spec: { vmiName },
  status: { phase: phase as never },
});

function input(over: Partial<DriftViewInput> & { vmis?: V1VirtualMachineInstance[]; nodeList?: V1Node[]; migrationList?: V1VirtualMachineInstanceMigration[] }): DriftViewInput {
  const vmis = new Map((over.vmis ?? []).map((v) => [v.metadata!.name!, v]));
  const nodes = over.nodeList ?? [node('n1', { tier: 'web', zone: 'a' }), node('n2', { tier: 'web', zone: 'b' })];
  const migrations = new Map<string, V1VirtualMachineInstanceMigration[]>();
  for (const m of over.migrationList ?? []) migrations.set(m.spec!.vmiName!, [...(migrations.get(m.spec!.vmiName!) ?? []), m]);
  return {
    fleet,
    templatePlacement: { nodeSelector: { tier: 'web' } },
    rebalance: rebalanceSpecOf({} as never),
    updateRevision: 'r1',
    vms: [],
    vmi: (n) => vmis.get(n),
    node: (n) => nodes.find((x) => x.metadata!.name === n),
    nodes,
    migrations,
    remembered: new Map(),
    desired: () => ({ metadata: { labels: { 'virtfleet.io/revision': 'r1' } }, spec: spec() }),
    now: Date.parse('2026-01-01T00:10:00Z'),
    ...over,
  };
}
const entry = (v: V1VirtualMachine, index: number) => ({ vm: v, index, restarting: false, disrupted: false });

describe('driftView', () => {
  it('finds placement drift on a relabelled node and none on a matching one', () => {
    const view = driftView(input({
      vms: [entry(vm('web-0'), 0), entry(vm('web-1'), 1)],
      vmis: [vmi('web-0', 'n1'), vmi('web-1', 'n3')],
      nodeList: [node('n1', { tier: 'web' }), node('n3', { tier: 'db' })],
    }));
    expect(view.vms.map((v) => [v.name, v.drift.map((d) => `${d.kind}/${d.detail}`)])).toEqual([['web-0', []], ['web-1', ['placement/NodeSelector']]]);
  });

  it('holds the migration until KubeVirt has patched the VM\'s new placement onto the VMI', () => {
    const stale = { ...vmi('web-0', 'n3'), spec: { domain: { devices: {} } } };
    const view = driftView(input({ vms: [entry(vm('web-0'), 0)], vmis: [stale], nodeList: [node('n3', { tier: 'db' })] }));
    expect(view.vms[0]).toMatchObject({ notYet: "waiting for KubeVirt to apply the VM's placement to the VMI" });
    const plan = planRemediation({ fleet: 'web', spec: remediationSpecOf({} as never), backoff: DEFAULT_BACKOFF, restartsAllowed: true, clusterSlots: 5, now: 0, vms: view.vms });
    expect(plan.actions).toEqual([]);
    expect(plan.reports[0]!.note).toMatch(/waiting for KubeVirt/);
    const patched = { ...stale, spec: { ...stale.spec, nodeSelector: { tier: 'web' } } };
    const ready = driftView(input({ vms: [entry(vm('web-0'), 0)], vmis: [patched], nodeList: [node('n3', { tier: 'db' })] }));
    expect(ready.vms[0]!.notYet).toBeUndefined();
  });

  it('sees hand edits only on VMs at the update revision, and drift only on running VMIs', () => {
    const edited = vm('web-0', spec(2));
    const outdated = vm('web-1', spec(2), 'r0');
    const view = driftView(input({ vms: [entry(edited, 0), entry(outdated, 1)], vmis: [vmi('web-1', 'n1', [{ type: 'HotVCPUChange', status: 'True' }])] }));
    expect(view.vms[0]!.drift.map((d) => d.kind)).toEqual(['manualEdit']);
    expect(view.vms[1]!.drift.map((d) => d.kind)).toEqual(['pendingLiveUpdate']);
    const restarting = driftView(input({ vms: [{ ...entry(vm('web-1'), 1), restarting: true }], vmis: [vmi('web-1', 'n1', [{ type: 'HotVCPUChange', status: 'True' }])] }));
    expect(restarting.vms[0]!.drift).toEqual([]);
  });

  it('judges a cached VM object for hand edits once per desired state (desiredKey), again when either changes', () => {
    let built = 0;
    const desired = () => {
      built++;
      return { metadata: { labels: { 'virtfleet.io/revision': 'r1' } }, spec: spec() };
    };
    const clean = vm('web-0');
    const edited = vm('web-1', spec(2));
    const run = (vms: V1VirtualMachine[], desiredKey?: string) =>
      driftView(input({ vms: vms.map((v, i) => entry(v, i)), desired, ...(desiredKey !== undefined ? { desiredKey } : {}) })).vms.map((v) => v.drift.map((d) => d.kind));
    expect(run([clean, edited], 'k1')).toEqual([[], ['manualEdit']]);
    expect(built).toBe(2);
    // The same objects against the same desired state: the findings are remembered, not rebuilt.
    expect(run([clean, edited], 'k1')).toEqual([[], ['manualEdit']]);
    expect(built).toBe(2);
    // Another desired state (a new generation, revision or image) judges them again.
    expect(run([clean, edited], 'k2')).toEqual([[], ['manualEdit']]);
    expect(built).toBe(4);
    // A changed VM is a new object in the cache: judged anew, the unchanged one not.
    const reverted = vm('web-1');
    expect(run([clean, reverted], 'k2')).toEqual([[], []]);
    expect(built).toBe(5);
    // Without a key nothing is remembered.
    run([clean, edited]);
    run([clean, edited]);
    expect(built).toBe(9);
  });

  it('tells ours from others\' migrations and reads an in-flight migrationState', () => {
    const view = driftView(input({
      vms: [entry(vm('web-0'), 0), entry(vm('web-1'), 1)],
      vmis: [vmi('web-0', 'n1'), vmi('web-1', 'n1', [], { migrationUid: 'kv-uid', completed: false })],
      migrationList: [
        migration('web-0-migrate-2', 'web-0', 'Failed', { 'virtfleet.io/fleet': 'web', 'virtfleet.io/attempt': '2', 'virtfleet.io/drift': 'placement' }),
        migration('kubevirt-evacuation-x', 'web-0', 'Running'),
      ],
    }));
    expect(view.vms[0]!.migrations.map((m) => [m.name, m.ours, m.attempt, m.reason ?? '-'])).toEqual([['web-0-migrate-2', true, 2, 'placement'], ['kubevirt-evacuation-x', false, 0, '-']]);
    expect(view.vms[1]!.migrationStateInFlight).toBe(true);
  });

  it('treats a VMI the cache shows before its succeeded migration moved it as still migrating', () => {
    const done = migration('web-0-migrate-1', 'web-0', 'Succeeded', { 'virtfleet.io/fleet': 'web', 'virtfleet.io/attempt': '1', 'virtfleet.io/drift': 'placement' }, 'm1');
    const nodes = [node('n1', { tier: 'web' }), node('n3', { tier: 'db' })];
    const stale = driftView(input({ vms: [entry(vm('web-0'), 0)], vmis: [vmi('web-0', 'n3')], nodeList: nodes, migrationList: [done] }));
    expect(stale.vms[0]).toMatchObject({ migrationStateInFlight: true });
    const caughtUp = driftView(input({ vms: [entry(vm('web-0'), 0)], vmis: [vmi('web-0', 'n1', [], { migrationUid: 'm1', completed: true })], nodeList: nodes, migrationList: [done] }));
    expect(caughtUp.vms[0]).toMatchObject({ migrationStateInFlight: false, drift: [] });
  });

  it('moves VMs out of a crowded zone when rebalancing is on', () => {
    const vms = [0, 1, 2].map((i) => entry(vm(`web-${i}`), i));
    const view = driftView(input({
      rebalance: { ...rebalanceSpecOf({} as never), enabled: true, topologyKey: 'zone' },
      vms,
      vmis: [vmi('web-0', 'n1'), vmi('web-1', 'n1'), vmi('web-2', 'n1')],
    }));
    expect(view.rebalance.excess).toBe(1);
    expect(view.vms.find((v) => v.addedNodeSelector)).toMatchObject({ name: 'web-2', addedNodeSelector: { zone: 'b' } });
  });
});

describe('driftSummary', () => {
  it('counts drift by kind, names the VMs and the ones that cannot migrate', () => {
    const view = driftView(input({
      vms: [entry(vm('web-0'), 0), entry(vm('web-1'), 1), entry(vm('web-2'), 2)],
      vmis: [vmi('web-0', 'n3'), { ...vmi('web-1', 'n3'), status: { phase: 'Running', nodeName: 'n3', conditions: [{ type: 'LiveMigratable', status: 'False', reason: 'CPUModeLiveMigratable' }] as never } }, vmi('web-2', 'n1')],
      nodeList: [node('n1', { tier: 'web' }), node('n3', { tier: 'db' })],
    }));
    const plan = planRemediation({ fleet: 'web', spec: remediationSpecOf({} as never), backoff: DEFAULT_BACKOFF, restartsAllowed: true, clusterSlots: 5, now: 0, vms: view.vms });
    const summary = driftSummary(view, plan, true);
    expect(summary).toMatchObject({ drifted: 2, migrating: 0, repairing: true, reason: 'PlacementDrift', byKind: { placement: 2, notMigratable: 1, manualEdit: 0 } });
    expect(summary.message).toBe('2 VMs drifted (placement 2): web-0, web-1; 0 migrating; not live-migratable: web-1 (CPUModeLiveMigratable)');
    const status = fleetStatus({ generation: 1, replicas: 3, maxUnavailable: 1, selector: { app: 'web' }, acting: false, previous: undefined, now: 'now', drift: summary });
    expect(status).toMatchObject({ driftedReplicas: 2, migratingReplicas: 0, driftedReplicasByKind: { placement: 2 } });
    expect(status.conditions!.find((c) => c.type === 'Drifted')).toMatchObject({ status: 'True', reason: 'PlacementDrift' });
  });

  it('reports no drift as Drifted=False', () => {
    const view = driftView(input({ vms: [entry(vm('web-0'), 0)], vmis: [vmi('web-0', 'n1')] }));
    const plan = planRemediation({ fleet: 'web', spec: remediationSpecOf({} as never), backoff: DEFAULT_BACKOFF, restartsAllowed: true, clusterSlots: 5, now: 0, vms: view.vms });
    const status = fleetStatus({ generation: 1, replicas: 1, maxUnavailable: 1, selector: { app: 'web' }, acting: false, previous: undefined, now: 'now', drift: driftSummary(view, plan, true) });
    expect(status.conditions!.find((c) => c.type === 'Drifted')).toMatchObject({ status: 'False', reason: 'NoDrift' });
    expect(status.driftedReplicas).toBe(0);
  });
});

describe('migrationOutcomes', () => {
  const ours = { 'virtfleet.io/fleet': 'web', 'virtfleet.io/attempt': '1', 'virtfleet.io/drift': 'placement' };
  const finished = (phase: string, reason?: string): V1VirtualMachineInstanceMigration => {
    const m = migration('web-0-migrate-1', 'web-0', phase, ours, 'm1');
    m.status = { ...m.status, phaseTransitionTimestamps: [{ phase: phase as never, phaseTransitionTimestamp: '2026-01-01T00:05:00Z' as never }], ...(reason ? { conditions: [{ type: 'Failed', status: 'True', message: reason }] as never } : {}) };
    return m;
  };
  const nodes = [node('n1', { tier: 'web' }), node('n3', { tier: 'db' })];
  const judge = (vmiNow: V1VirtualMachineInstance, m: V1VirtualMachineInstanceMigration) => {
    const view = driftView(input({ vms: [entry(vm('web-0'), 0)], vmis: [vmiNow], nodeList: nodes, migrationList: [m] }));
    return migrationOutcomes(view, () => vmiNow);
  };

  it('waits while the VMI has not caught up with a succeeded migration, then calls it a success', () => {
    // Judged from a snapshot taken before the move: the drift found there says nothing of where it landed.
    expect(judge(vmi('web-0', 'n3'), finished('Succeeded'))).toEqual([]);
    expect(judge(vmi('web-0', 'n3', [], { migrationUid: 'm1', completed: false }), finished('Succeeded'))).toEqual([]);
    expect(judge(vmi('web-0', 'n1', [], { migrationUid: 'm1', completed: true }), finished('Succeeded')))
      .toEqual([{ vm: 'web-0', migration: 'web-0-migrate-1', finishedAt: Date.parse('2026-01-01T00:05:00Z'), verdict: 'succeeded', node: 'n1' }]);
  });

  it('calls a success misplaced only when the VMI it moved still breaks the placement', () => {
    expect(judge(vmi('web-0', 'n3', [], { migrationUid: 'm1', completed: true }), finished('Succeeded')))
      .toMatchObject([{ verdict: 'misplaced', node: 'n3', message: expect.stringMatching(/tier/) }]);
  });

  it('reports a failure with its reason, and nothing for migrations not ours or in flight', () => {
    expect(judge(vmi('web-0', 'n3'), finished('Failed', 'target pod failed'))).toMatchObject([{ verdict: 'failed', message: 'target pod failed' }]);
    expect(judge(vmi('web-0', 'n3'), migration('web-0-migrate-1', 'web-0', 'Running', ours, 'm1'))).toEqual([]);
    const theirs = { ...finished('Succeeded'), metadata: { ...finished('Succeeded').metadata, labels: {}, ownerReferences: [] } };
    expect(judge(vmi('web-0', 'n1', [], { migrationUid: 'm1', completed: true }), theirs)).toEqual([]);
  });
});
