import { describe, expect, it } from '@jest/globals';
import type { V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import type { VMFleet } from '../api/objects.ts';
import { desiredVM } from '../core/fleet/desired.ts';
import { DEFAULT_BACKOFF } from '../core/fleet/migration.ts';
import type { ObservedVM } from '../core/fleet/rollout.ts';
import { NO_DRIFT_MEMORY, planDrift, type DriftMemory } from './drift-repair.ts';

const ref = { name: 'web', namespace: 'ns', uid: 'fleet-uid' };
const fleet = {
  apiVersion: 'virtfleet.io/v1alpha1',
  kind: 'VMFleet',
  metadata: { ...ref, generation: 1 },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'web' } },
    image: { name: 'fedora', version: 'v1', volume: 'root' },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { runStrategy: 'Always', template: { metadata: { labels: { app: 'web' } }, spec: { nodeSelector: { tier: 'web' }, domain: { devices: {} }, volumes: [{ name: 'root', containerDisk: { image: 'x' } }] } } },
    },
  },
} as unknown as VMFleet;
const image = { version: 'v1', containerDisk: 'registry/fedora@sha256:1' };
const vm = desiredVM({ fleet: ref, spec: fleet.spec, image, index: 0, revision: 'r1' });
const observed = { name: 'web-0', index: 0, restarting: false, deleting: false } as ObservedVM;
const nodes: V1Node[] = [
  { metadata: { name: 'old', labels: { tier: 'none' } }, status: { conditions: [{ type: 'Ready', status: 'True' }] as never } },
  { metadata: { name: 'new', labels: { tier: 'web' } }, status: { conditions: [{ type: 'Ready', status: 'True' }] as never } },
];
const finishedAt = Date.parse('2026-01-01T00:05:00Z');
const succeeded: V1VirtualMachineInstanceMigration = {
  metadata: {
    name: 'web-0-migrate-1', namespace: 'ns', uid: 'm1', creationTimestamp: '2026-01-01T00:04:00Z' as never,
    labels: { 'virtfleet.io/fleet': 'web', 'virtfleet.io/attempt': '1', 'virtfleet.io/drift': 'placement' },
    ownerReferences: [{ apiVersion: 'virtfleet.io/v1alpha1', kind: 'VMFleet', name: 'web', uid: 'fleet-uid' }],
  },
  spec: { vmiName: 'web-0' },
  status: { phase: 'Succeeded', phaseTransitionTimestamps: [{ phase: 'Succeeded', phaseTransitionTimestamp: '2026-01-01T00:05:00Z' as never }] },
};
const vmiOn = (nodeName: string, state?: object): V1VirtualMachineInstance => ({
  metadata: { name: 'web-0', namespace: 'ns', uid: 'vmi-uid' },
  spec: { domain: { devices: {} }, nodeSelector: { tier: 'web' } },
  status: { phase: 'Running', nodeName, conditions: [{ type: 'LiveMigratable', status: 'True' }] as never, ...(state ? { migrationState: state } : {}) },
});

function plan(vmi: V1VirtualMachineInstance, now: number, memory: DriftMemory = NO_DRIFT_MEMORY) {
  return planDrift({
    fleet, vms: [vm], observed: [observed], healed: new Set(), image, revision: 'r1', restartsAllowed: true,
    vmi: () => vmi, node: (name) => nodes.find((n) => n.metadata!.name === name), nodes, migrations: [succeeded],
    pending: new Map(), clusterSlots: 5, backoff: DEFAULT_BACKOFF, memory, now,
  });
}
const migrates = (r: ReturnType<typeof plan>) => r.remediation.plan.actions.filter((a) => a.type === 'Migrate').map((a) => a.name);

describe('planDrift after a succeeded migration', () => {
  it('starts no second attempt while the VMI cache has not caught up with the migration', () => {
    // The migration cache shows attempt 1 Succeeded; the VMI cache still shows the VMI before it (or mid-way).
    for (const stale of [vmiOn('old'), vmiOn('old', { migrationUid: 'm1', completed: false }), vmiOn('old', { migrationUid: 'earlier', completed: true })]) {
      const r = plan(stale, finishedAt + 1_000);
      expect(migrates(r)).toEqual([]);
      expect(r.remediation.plan.migrating).toEqual(['web-0']);
      expect(r.remediation.outcomes).toEqual([]);
    }
  });

  it('calls it a success once the VMI shows it completed on a matching node, and plans nothing', () => {
    const r = plan(vmiOn('new', { migrationUid: 'm1', completed: true }), finishedAt + 1_000);
    expect(migrates(r)).toEqual([]);
    expect(r.remediation.outcomes).toMatchObject([{ migration: 'web-0-migrate-1', verdict: 'succeeded', node: 'new' }]);
  });

  it('backs off from a success that left the VM misplaced, from the very snapshot that finds it so', () => {
    const landedWrong = vmiOn('old', { migrationUid: 'm1', completed: true });
    const first = plan(landedWrong, finishedAt + 1_000);
    expect(first.remediation.outcomes).toMatchObject([{ migration: 'web-0-migrate-1', verdict: 'misplaced', node: 'old' }]);
    expect(migrates(first)).toEqual([]);
    expect(first.remediation.plan.reports[0]!.note).toMatch(/^retry after 1 failed migration in 9s$/);
    expect(first.remediation.plan.nextCheckAt).toBe(finishedAt + DEFAULT_BACKOFF.baseMs);
    // Told and remembered (as carryOut does), it still waits; after the backoff attempt 2 starts.
    const told = { ...first.memory, reported: { 'web-0-migrate-1': finishedAt + 1_000 }, misplaced: { 'web-0-migrate-1': finishedAt + 1_000 } };
    expect(migrates(plan(landedWrong, finishedAt + 5_000, told))).toEqual([]);
    expect(migrates(plan(landedWrong, finishedAt + DEFAULT_BACKOFF.baseMs, told))).toEqual(['web-0-migrate-2']);
  });
});

describe('planDrift with reservations not yet cached', () => {
  const drifted = vmiOn('old');
  const planWith = (pending: Map<string, { name: string; phase: string; ours: boolean; attempt: number; createdAt: number; deleting: boolean }[]>) => planDrift({
    fleet, vms: [vm], observed: [observed], healed: new Set(), image, revision: 'r1', restartsAllowed: true,
    vmi: () => drifted, node: (name) => nodes.find((n) => n.metadata!.name === name), nodes, migrations: [],
    pending, clusterSlots: 5, backoff: DEFAULT_BACKOFF, memory: NO_DRIFT_MEMORY, now: finishedAt,
  });
  const reservation = (name: string) => ({ name, phase: '', ours: true, attempt: 1, createdAt: finishedAt - 100, deleting: false });

  it("counts the fleet's own reservation as in flight and ignores one of a VM the fleet does not have", () => {
    expect(migrates(planWith(new Map()))).toEqual(['web-0-migrate-1']);
    const r = planWith(new Map([['web-0', [reservation('web-0-migrate-1')]], ['web-7', [reservation('web-7-migrate-1')]]]));
    expect(migrates(r)).toEqual([]);
    expect(r.remediation.plan.migrating).toEqual(['web-0']);
    expect(r.remediation.view.vms.map((v) => v.name)).toEqual(['web-0']);
  });
});
