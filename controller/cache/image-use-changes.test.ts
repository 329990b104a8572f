import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { VMFleet } from '../api/objects.ts';
import { FLEET_LABEL } from '../core/fleet/names.ts';
import { judgeFleetVM } from '../core/image/running.ts';
import type { ImageRef, ImageSpec, RecordedVersion } from '../core/image/types.ts';
import { countUsage } from '../core/image/usage.ts';
import { imageFleetFingerprint, imageVMFingerprint, imageVMIFingerprint, ImageVMIChanges } from './image-use-changes.ts';

const image: ImageRef = { namespace: 'apps', name: 'fedora', uid: 'u' };
const REPO = '127.0.0.1:5000/disks/fedora';
const digest = (c: string) => `sha256:${c.repeat(64)}`;
const versions: RecordedVersion[] = [
  { name: 'v1', phase: 'Ready', digest: digest('1'), pvcName: 'fedora-v1' },
  { name: 'v2', phase: 'Ready', digest: digest('2'), pvcName: 'fedora-v2' },
];
const spec: ImageSpec = { source: { registry: { repository: REPO } } };
const NOW = Date.parse('2026-05-01T12:00:00.000Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();
const disk = (v: 1 | 2) => ({ name: 'rootdisk', containerDisk: { image: `${REPO}@${digest(String(v))}` } });

/** One edit to a fleet VM or its VMI: some change what the image controller decides, most do not. */
type Edit = (vm: V1VirtualMachine, vmi: V1VirtualMachineInstance) => void;
const edits: Record<string, Edit> = {
  // Read by the image controller.
  vmOnV1: (vm) => void (vm.spec.template!.spec!.volumes = [disk(1)]),
  vmHalted: (vm) => void (vm.spec.runStrategy = 'Halted'),
  vmNotReady: (vm) => void (vm.status = { ...vm.status, ready: false }),
  vmReadyLater: (vm) => void (vm.status = { ...vm.status, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: ago(1) }] as never }),
  vmiOnV1: (_vm, vmi) => void (vmi.spec!.volumes = [disk(1)]),
  vmiFailed: (_vm, vmi) => void (vmi.status = { ...vmi.status, phase: 'Failed' }),
  vmiNotReady: (_vm, vmi) => void (vmi.status = { ...vmi.status, conditions: [{ type: 'Ready', status: 'False' }] as never }),
  vmiReadyLater: (_vm, vmi) => void (vmi.status = { ...vmi.status, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: ago(2) }] as never }),
  vmiDeleting: (_vm, vmi) => void (vmi.metadata = { ...vmi.metadata, deletionTimestamp: new Date(NOW) as never }),
  // Not read: a migration's progress, a drift annotation, KubeVirt's other status.
  vmAnnotated: (vm) => void (vm.metadata = { ...vm.metadata, annotations: { 'virtfleet.io/drift': 'placement: off the pool' }, resourceVersion: '9' }),
  vmPrintable: (vm) => void (vm.status = { ...vm.status, printableStatus: 'Migrating' }),
  vmiMoved: (_vm, vmi) => void (vmi.status = { ...vmi.status, nodeName: 'node-9' }),
  vmiMigrating: (_vm, vmi) => void (vmi.status = { ...vmi.status, migrationState: { migrationUid: 'm1', sourceNode: 'node-1', targetNode: 'node-9', completed: false } }),
  vmiNotMigratable: (_vm, vmi) => void (vmi.status = { ...vmi.status, conditions: [...(vmi.status?.conditions ?? []).filter((c) => c.type !== 'LiveMigratable'), { type: 'LiveMigratable', status: 'False' }] as never }),
};

function fleetVM(): { vm: V1VirtualMachine; vmi: V1VirtualMachineInstance } {
  const conditions = [{ type: 'Ready', status: 'True', lastTransitionTime: ago(600) }];
  return {
    vm: { metadata: { namespace: 'apps', name: 'web-0', labels: { [FLEET_LABEL]: 'web' }, resourceVersion: '1' }, spec: { runStrategy: 'Always', template: { spec: { domain: { devices: {} }, volumes: [disk(2)] } } }, status: { ready: true, conditions: conditions as never } },
    vmi: {
      metadata: { namespace: 'apps', name: 'web-0', uid: 'vmi-uid', labels: { [FLEET_LABEL]: 'web' } },
      spec: { domain: { devices: {} }, volumes: [disk(2)] },
      status: { phase: 'Running', nodeName: 'node-1', conditions: [...conditions, { type: 'LiveMigratable', status: 'True' }] as never },
    },
  };
}

/** Everything the image controller decides from one fleet VM and its VMI: the judgement against each version, and the usage count. */
function decided(vm: V1VirtualMachine, vmi: V1VirtualMachineInstance) {
  return JSON.stringify([
    ...versions.flatMap((version) => [0, 300_000].map((minReadyMs) => judgeFleetVM({ image, spec, version, vm, vmi, dataSources: [], minReadyMs, now: NOW }))),
    [...countUsage({ image, spec, versions, vms: [vm], dataSources: [] })],
  ]);
}

describe('the image controller\'s event filters', () => {
  it('let through every VM or VMI event that changes what the image controller decides from it (a property over edits)', () => {
    let changedDecisions = 0;
    let filtered = 0;
    fc.assert(fc.property(fc.uniqueArray(fc.constantFrom(...Object.keys(edits)), { minLength: 1, maxLength: 4 }), (names) => {
      const before = fleetVM();
      const after = structuredClone(before);
      for (const name of names) edits[name]!(after.vm, after.vmi);
      const same = imageVMFingerprint(before.vm) === imageVMFingerprint(after.vm) && imageVMIFingerprint(before.vmi) === imageVMIFingerprint(after.vmi);
      const decisionChanged = decided(before.vm, before.vmi) !== decided(after.vm, after.vmi);
      if (decisionChanged) changedDecisions++;
      if (same) filtered++;
      // An event filtered out never hides a change of decision.
      expect(same && decisionChanged).toBe(false);
    }), { numRuns: 300 });
    // Both sides were reached: edits that change decisions, and edits filtered out.
    expect(changedDecisions).toBeGreaterThan(0);
    expect(filtered).toBeGreaterThan(0);
  });

  it('filter out a migration\'s progress and a drift annotation, and let the first sight and a delete through', () => {
    const { vm, vmi } = fleetVM();
    for (const name of ['vmAnnotated', 'vmPrintable']) {
      const edited = structuredClone(vm);
      edits[name]!(edited, structuredClone(vmi));
      expect([name, imageVMFingerprint(edited)]).toEqual([name, imageVMFingerprint(vm)]);
    }
    const changes = new ImageVMIChanges();
    expect(changes.changed('add', vmi)).toBe(true);
    for (const name of ['vmiMoved', 'vmiMigrating', 'vmiNotMigratable']) {
      const edited = structuredClone(vmi);
      edits[name]!(structuredClone(vm), edited);
      expect([name, changes.changed('update', edited)]).toEqual([name, false]);
    }
    expect(changes.changed('delete', vmi)).toBe(true);
    expect(changes.size).toBe(0);
  });

  it('see a fleet\'s image, channel, minReadySeconds and halted rollout, not its other status', () => {
    const fleet = { metadata: { name: 'web', namespace: 'apps' }, spec: { image: { name: 'fedora', channel: 'stable' } }, status: { readyReplicas: 3, conditions: [{ type: 'Ready', status: 'True' }] } } as unknown as VMFleet;
    const print = (edit: (f: VMFleet) => void) => {
      const f = structuredClone(fleet);
      edit(f);
      return imageFleetFingerprint(f);
    };
    const base = imageFleetFingerprint(fleet);
    expect(print((f) => void ((f.status as { readyReplicas: number }).readyReplicas = 2))).toBe(base);
    expect(print((f) => void (f.status!.conditions = [{ type: 'Ready', status: 'False' }] as never))).toBe(base);
    expect(print((f) => void (f.spec.image.channel = 'beta'))).not.toBe(base);
    expect(print((f) => void (f.spec.minReadySeconds = 30))).not.toBe(base);
    expect(print((f) => void (f.status!.conditions = [{ type: 'Stalled', status: 'True', reason: 'RolloutHalted' }] as never))).not.toBe(base);
  });
});
