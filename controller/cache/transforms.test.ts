// The cache transforms keep what the fleet controller reads: its readers decide the same on a
// shrunk VMI or node as on the whole object KubeVirt or the kubelet wrote (differential, over
// generated objects carrying fields nobody reads).
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { KubernetesObject, V1Node } from '@kubernetes/client-node';
import { detectDrift } from '../core/fleet/drift.ts';
import { isNodeReady, placementOf, placementViolations } from '../core/placement.ts';
import { conditionOf, nodeLostSince, observeVM } from '../fleet/observe.ts';
import { nodeFingerprint } from './node-index.ts';
import { cachedNode } from './nodes.ts';
import { cachedVMI } from './vmis.ts';
import { cachedVM } from './vms.ts';

const time = fc.integer({ min: 1_700_000_000_000, max: 1_800_000_000_000 }).map((t) => new Date(t).toISOString());
const noise = fc.dictionary(fc.constantFrom('guestOSInfo', 'interfaces', 'machine', 'qosClass', 'volumeStatus', 'launcherContainerImageVersion'), fc.jsonValue(), { maxKeys: 4 });
const labels = fc.dictionary(fc.constantFrom('zone', 'pool', 'virtfleet.io/fleet', 'app'), fc.constantFrom('a', 'b', 'web'), { maxKeys: 3 });
const condition = (types: string[]) =>
  fc.record({ type: fc.constantFrom(...types), status: fc.constantFrom('True', 'False', 'Unknown'), reason: fc.option(fc.constantFrom('Ready', 'Nope', 'KubeletReady'), { nil: undefined }), message: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }), lastTransitionTime: fc.option(time, { nil: undefined }), lastProbeTime: fc.option(time, { nil: undefined }), lastHeartbeatTime: fc.option(time, { nil: undefined }) }, { requiredKeys: ['type', 'status'] });
const toleration = fc.record({ key: fc.constantFrom('dedicated', 'kubevirt.io/drain'), operator: fc.constantFrom('Exists', 'Equal'), value: fc.constantFrom('a', 'b'), effect: fc.constantFrom('NoSchedule', 'NoExecute') }, { requiredKeys: ['key'] });
const taint = fc.record({ key: fc.constantFrom('dedicated', 'kubevirt.io/drain', 'node.kubernetes.io/unschedulable'), value: fc.constantFrom('a', 'b'), effect: fc.constantFrom('NoSchedule', 'NoExecute', 'PreferNoSchedule') }, { requiredKeys: ['key', 'effect'] });
const meta = fc.record({ name: fc.constantFrom('web-0', 'node-1'), namespace: fc.constant('ns'), uid: fc.uuid(), resourceVersion: fc.nat().map(String), creationTimestamp: time, deletionTimestamp: fc.option(time, { nil: undefined }), labels, annotations: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 20 }), { maxKeys: 3 }), managedFields: fc.array(fc.record({ manager: fc.constantFrom('virt-handler', 'virt-controller'), operation: fc.constant('Update') }), { maxLength: 2 }) }, { requiredKeys: ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp'] });

const volume = fc.oneof(
  fc.record({ name: fc.constantFrom('rootdisk', 'data'), containerDisk: fc.record({ image: fc.constantFrom('reg/fedora@sha256:1', 'reg/fedora:42'), imagePullPolicy: fc.constant('IfNotPresent') }) }),
  fc.record({ name: fc.constantFrom('rootdisk', 'data'), dataVolume: fc.record({ name: fc.constantFrom('web-0-root', 'disk'), hotpluggable: fc.boolean() }) }),
  fc.record({ name: fc.constant('cloudinit'), cloudInitNoCloud: fc.record({ userData: fc.string({ maxLength: 50 }) }) }),
);
const vmiArb: fc.Arbitrary<V1VirtualMachineInstance & KubernetesObject> = fc.record({
  metadata: meta,
  spec: fc.record({
    domain: fc.record({ cpu: fc.record({ sockets: fc.integer({ min: 1, max: 4 }) }), memory: fc.record({ guest: fc.constantFrom('1Gi', '2Gi') }), devices: fc.constant({}) }),
    nodeSelector: labels,
    tolerations: fc.array(toleration, { maxLength: 2 }),
    affinity: fc.constant({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } } }),
    volumes: fc.array(volume, { maxLength: 3 }),
  }, { requiredKeys: ['domain'] }),
  status: fc.record({
    phase: fc.constantFrom('Pending', 'Scheduled', 'Running', 'Succeeded'),
    nodeName: fc.constantFrom('node-1', 'node-2'),
    conditions: fc.array(condition(['Ready', 'LiveMigratable', 'AgentConnected', 'HotVCPUChange', 'HotMemoryChange']), { maxLength: 4 }),
    migrationState: fc.record({ migrationUid: fc.constantFrom('m1', 'm2'), completed: fc.boolean(), failed: fc.boolean(), sourceNode: fc.constant('node-1'), targetNode: fc.constant('node-2'), targetPod: fc.constant('virt-launcher-x'), mode: fc.constant('PreCopy') }, { requiredKeys: [] }),
    extra: noise,
  }, { requiredKeys: [] }),
}, { requiredKeys: ['metadata', 'spec'] }) as never;

const nodeArb: fc.Arbitrary<V1Node & KubernetesObject> = fc.record({
  metadata: meta,
  spec: fc.record({ taints: fc.array(taint, { maxLength: 3 }), unschedulable: fc.boolean(), podCIDR: fc.constant('10.0.0.0/24'), providerID: fc.constant('sim://x') }, { requiredKeys: [] }),
  status: fc.record({ conditions: fc.array(condition(['Ready', 'MemoryPressure', 'DiskPressure']), { maxLength: 3 }), allocatable: fc.constant({ cpu: '32', memory: '128Gi' }), images: fc.array(fc.record({ names: fc.array(fc.string({ maxLength: 10 })) }), { maxLength: 2 }), nodeInfo: noise }, { requiredKeys: [] }),
}, { requiredKeys: ['metadata'] }) as never;

const shrunk = <T>(obj: T, transform: (o: T) => void): T => {
  const copy = structuredClone(obj);
  transform(copy);
  return copy;
};

const vm: V1VirtualMachine = { metadata: { name: 'web-0', namespace: 'ns', creationTimestamp: '2025-01-01T00:00:00Z' as never, labels: { 'virtfleet.io/revision': 'r1' } }, spec: { template: { spec: { domain: { devices: {} }, nodeSelector: { zone: 'a' } } } }, status: { ready: true, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2025-01-01T00:01:00Z' as never }] } } as never;

/** Everything the fleet's readers take from one VMI (observe, drift view, drift repair, decide, image disks). */
function vmiReads(vmi: V1VirtualMachineInstance, node: V1Node | undefined, restartedVmiUid: string | undefined) {
  const lm = conditionOf(vmi.status?.conditions, 'LiveMigratable') as { status: string; reason?: string; message?: string } | undefined;
  const state = vmi.status?.migrationState;
  return {
    observed: observeVM({ vm, index: 0, vmi, node, restartedVmiUid, change: 'none' }),
    drift: detectDrift({ placement: placementOf(vm.spec.template?.spec), node, vmiConditions: vmi.status?.conditions as never }),
    placement: placementOf(vmi.spec),
    liveMigratable: lm && { status: lm.status, reason: lm.reason, message: lm.message },
    migrationState: state && { uid: state.migrationUid, completed: state.completed },
    volumes: (vmi.spec?.volumes ?? []).map((v) => [v.name, v.containerDisk?.image, v.dataVolume?.name]),
    identity: [vmi.metadata?.name, vmi.metadata?.namespace, vmi.metadata?.uid, vmi.metadata?.labels, vmi.metadata?.deletionTimestamp, vmi.status?.nodeName, vmi.status?.phase],
  };
}

/** Everything placement, drift, node loss and the node-event filter take from one node. */
function nodeReads(node: V1Node, vmi: V1VirtualMachineInstance) {
  return {
    violations: placementViolations(placementOf(vmi.spec), node),
    ready: isNodeReady(node),
    lost: nodeLostSince(node),
    fingerprint: nodeFingerprint(node),
    drift: detectDrift({ placement: placementOf(vmi.spec), node, vmiConditions: vmi.status?.conditions as never }),
    labels: node.metadata?.labels,
  };
}

describe('cache transforms', () => {
  it('the fleet reads the same of a shrunk VMI as of the whole one (differential property)', () => {
    fc.assert(fc.property(vmiArb, fc.option(nodeArb, { nil: undefined }), fc.option(fc.uuid(), { nil: undefined }), (vmi, node, restarted) => {
      expect(vmiReads(shrunk(vmi, cachedVMI), node, restarted)).toEqual(vmiReads(vmi, node, restarted));
    }));
  });

  it('placement, drift and node loss read the same of a shrunk node as of the whole one (differential property)', () => {
    fc.assert(fc.property(nodeArb, vmiArb, (node, vmi) => {
      expect(nodeReads(shrunk(node, cachedNode), vmi)).toEqual(nodeReads(node, vmi));
    }));
  });

  it('shrinking twice keeps what shrinking once keeps (property): a paged list shrinks each page, the informer again', () => {
    const vmArb = vmiArb.map((vmi) => ({
      metadata: { ...vmi.metadata, ownerReferences: vmi.metadata?.labels?.['virtfleet.io/fleet'] ? [{ apiVersion: 'virtfleet.io/v1alpha1', kind: 'VMFleet', name: 'web', uid: 'u', controller: true }] : [] },
      spec: { template: { spec: vmi.spec }, dataVolumeTemplates: [{ metadata: { name: 'web-0-root' }, spec: { sourceRef: { kind: 'DataSource', name: 'fedora' }, storage: {} } }] },
      status: { ready: true },
    }) as unknown as V1VirtualMachine & KubernetesObject);
    fc.assert(fc.property(vmiArb, nodeArb, vmArb, (vmi, node, vm) => {
      expect(shrunk(shrunk(vmi, cachedVMI), cachedVMI)).toEqual(shrunk(vmi, cachedVMI));
      expect(shrunk(shrunk(node, cachedNode), cachedNode)).toEqual(shrunk(node, cachedNode));
      expect(shrunk(shrunk(vm, cachedVM), cachedVM)).toEqual(shrunk(vm, cachedVM));
    }));
  });

  it('drops what nobody reads', () => {
    const [vmi] = fc.sample(vmiArb.filter((v) => (v.status?.conditions?.length ?? 0) > 0 && !!v.metadata?.managedFields?.length), { numRuns: 1, seed: 7 });
    const small = shrunk(vmi!, cachedVMI);
    expect(small.metadata).not.toHaveProperty('managedFields');
    expect(small.metadata).not.toHaveProperty('annotations');
    expect(small.spec).toEqual(expect.not.objectContaining({ domain: expect.objectContaining({ cpu: expect.anything() }) }));
    expect(small.status).not.toHaveProperty('extra');
    expect(small.status?.conditions?.every((c) => !('lastProbeTime' in c))).toBe(true);
    const node = shrunk({ metadata: { name: 'n' }, spec: {}, status: { allocatable: { cpu: '1' }, images: [{ names: ['x'] }], conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: new Date() }, { type: 'DiskPressure', status: 'False' }] } } as V1Node & KubernetesObject, cachedNode);
    expect(node.status).toEqual({ conditions: [{ type: 'Ready', status: 'True' }] });
  });
});
