import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { V1Volume, V1VirtualMachineInstanceSpec } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { ALLOW_POD_BRIDGE_NETWORK_LIVE_MIGRATION_ANNOTATION, NotMigratableReason, liveMigratableCondition } from './live-migratable.ts';

function pvc(name: string, accessModes: string[]): V1PersistentVolumeClaim {
  return { metadata: { name }, spec: { accessModes } };
}

const pvcs = new Map([
  ['shared', pvc('shared', ['ReadWriteMany'])],
  ['rwo', pvc('rwo', ['ReadWriteOnce'])],
  ['dv-shared', pvc('dv-shared', ['ReadWriteOnce', 'ReadWriteMany'])],
  ['dv-rwo', pvc('dv-rwo', ['ReadWriteOnce'])],
]);

function spec(extra: Partial<V1VirtualMachineInstanceSpec> = {}, devices: V1VirtualMachineInstanceSpec['domain']['devices'] = {}): V1VirtualMachineInstanceSpec {
  return {
    networks: [{ name: 'default', pod: {} }],
    ...extra,
    domain: { ...(extra.domain ?? {}), devices: { interfaces: [{ name: 'default', masquerade: {} }], ...(extra.domain?.devices ?? {}), ...devices } },
  };
}

const migratableVolumes: V1Volume[] = [
  { name: 'root', containerDisk: { image: 'quay.io/containerdisks/fedora:41' } },
  { name: 'ci', cloudInitNoCloud: { userData: '#cloud-config' } },
  { name: 'cd', cloudInitConfigDrive: { userData: '#cloud-config' } },
  { name: 'cm', configMap: { name: 'cm' } },
  { name: 'sec', secret: { secretName: 's' } },
  { name: 'sa', serviceAccount: { serviceAccountName: 'default' } },
  { name: 'scratch', emptyDisk: { capacity: '1Gi' } },
  { name: 'meta', downwardAPI: { fields: [] } },
  { name: 'data', persistentVolumeClaim: { claimName: 'shared' } },
  { name: 'dv', dataVolume: { name: 'dv-shared' } },
  { name: 'host', hostDisk: { path: '/d', type: 'Disk', shared: true } },
];

describe('liveMigratableCondition', () => {
  it('is True for a masquerade VMI with only migratable volumes', () => {
    expect(liveMigratableCondition(spec({ volumes: migratableVolumes }), pvcs)).toEqual({ status: 'True' });
  });

  it('is True with no interfaces or no pod network', () => {
    expect(liveMigratableCondition({ domain: { devices: {} } }, pvcs)).toEqual({ status: 'True' });
    const multusOnly = spec({ networks: [{ name: 'default', multus: { networkName: 'br' } }] }, { interfaces: [{ name: 'default', bridge: {} }] });
    expect(liveMigratableCondition(multusOnly, pvcs)).toEqual({ status: 'True' });
  });

  it('refuses a ReadWriteOnce PVC with KubeVirt wording', () => {
    const c = liveMigratableCondition(spec({ volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'rwo' } }] }), pvcs);
    expect(c).toEqual({
      status: 'False',
      reason: 'DisksNotLiveMigratable',
      message: 'cannot migrate VMI: PVC rwo is not shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)',
    });
  });

  it('looks DataVolume volumes up by the DataVolume name', () => {
    expect(liveMigratableCondition(spec({ volumes: [{ name: 'root', dataVolume: { name: 'dv-rwo' } }] }), pvcs).reason).toBe(NotMigratableReason.Disks);
    expect(liveMigratableCondition(spec({ volumes: [{ name: 'root', dataVolume: { name: 'dv-shared' } }] }), pvcs).status).toBe('True');
  });

  it('refuses a claim it cannot find', () => {
    const c = liveMigratableCondition(spec({ volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'missing' } }] }), pvcs);
    expect(c.reason).toBe('DisksNotLiveMigratable');
    expect(c.message).toContain('Unable to determine if PVC missing is shared');
  });

  it('falls back to the bound access modes in status', () => {
    const bound = new Map([['b', { metadata: { name: 'b' }, status: { accessModes: ['ReadWriteMany'] } } as V1PersistentVolumeClaim]]);
    expect(liveMigratableCondition(spec({ volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'b' } }] }), bound).status).toBe('True');
  });

  it('refuses a non-shared hostDisk', () => {
    const c = liveMigratableCondition(spec({ volumes: [{ name: 'h', hostDisk: { path: '/x', type: 'DiskOrCreate' } }] }), pvcs);
    expect(c).toEqual({ status: 'False', reason: 'DisksNotLiveMigratable', message: 'cannot migrate VMI with non-shared HostDisk' });
  });

  it('refuses a bridge interface on the pod network unless the VMI opts in', () => {
    const bridged = spec({}, { interfaces: [{ name: 'default', bridge: {} }] });
    const c = liveMigratableCondition(bridged, pvcs);
    expect(c.reason).toBe('InterfaceNotLiveMigratable');
    expect(c.message).toContain('cannot migrate VMI which does not use masquerade');
    expect(liveMigratableCondition(bridged, pvcs, { annotations: { [ALLOW_POD_BRIDGE_NETWORK_LIVE_MIGRATION_ANNOTATION]: '' } }).status).toBe('True');
  });

  it('refuses other non-masquerade pod-network bindings unless the plugin is migratable', () => {
    const passt = spec({}, { interfaces: [{ name: 'default', binding: { name: 'passt' } }] });
    expect(liveMigratableCondition(passt, pvcs).reason).toBe('InterfaceNotLiveMigratable');
    expect(liveMigratableCondition(passt, pvcs, { migratableBindingPlugins: ['passt'] }).status).toBe('True');
    expect(liveMigratableCondition(spec({}, { interfaces: [{ name: 'default', sriov: {} }] }), pvcs).reason).toBe('InterfaceNotLiveMigratable');
  });

  it('refuses host devices and GPUs', () => {
    expect(liveMigratableCondition(spec({}, { hostDevices: [{ name: 'nic', deviceName: 'vendor.com/nic' }] }), pvcs)).toEqual({
      status: 'False',
      reason: 'HostDeviceNotLiveMigratable',
      message: 'VMI uses a PCI host devices',
    });
    expect(liveMigratableCondition(spec({}, { gpus: [{ name: 'gpu', deviceName: 'nvidia.com/GA102' }] }), pvcs).reason).toBe('HostDeviceNotLiveMigratable');
  });

  it('refuses SEV and SEV-SNP', () => {
    expect(liveMigratableCondition(spec({ domain: { devices: {}, launchSecurity: { sev: {} } } }), pvcs).reason).toBe('SEVNotLiveMigratable');
    expect(liveMigratableCondition(spec({ domain: { devices: {}, launchSecurity: { snp: {} } } }), pvcs).reason).toBe('SEVNotLiveMigratable');
  });

  it('refuses host-model only on a node without a host CPU model; host-passthrough migrates', () => {
    const hostModel = spec({ domain: { devices: {}, cpu: { model: 'host-model' } } });
    expect(liveMigratableCondition(hostModel, pvcs).status).toBe('True');
    expect(liveMigratableCondition(hostModel, pvcs, { nodeHasHostCPUModel: false }).reason).toBe('CPUModeLiveMigratable');
    expect(liveMigratableCondition(spec({ domain: { devices: {}, cpu: { model: 'host-passthrough' } } }), pvcs, { nodeHasHostCPUModel: false }).status).toBe('True');
  });

  it('refuses Hyper-V passthrough', () => {
    expect(liveMigratableCondition(spec({ domain: { devices: {}, features: { hypervPassthrough: { enabled: true } } } }), pvcs).reason).toBe('HypervPassthroughNotLiveMigratable');
  });

  it('lets virtiofs filesystems migrate (KubeVirt >= v1.5)', () => {
    expect(liveMigratableCondition(spec({}, { filesystems: [{ name: 'cm', virtiofs: {} }] }), pvcs).status).toBe('True');
  });

  it('reports the first reason in KubeVirt order: interfaces before devices before disks', () => {
    const everything = spec(
      { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'rwo' } }], domain: { devices: {}, launchSecurity: { sev: {} } } },
      { interfaces: [{ name: 'default', bridge: {} }], gpus: [{ name: 'g', deviceName: 'x' }] },
    );
    expect(liveMigratableCondition(everything, pvcs).reason).toBe('InterfaceNotLiveMigratable');
    const noIface = { ...everything, domain: { ...everything.domain, devices: { ...everything.domain.devices, interfaces: [] } } };
    expect(liveMigratableCondition(noIface, pvcs).reason).toBe('HostDeviceNotLiveMigratable');
  });

  it('adding a non-migratable volume never makes a VMI migratable, and False always has a reason (property)', () => {
    const arbVolume = fc.constantFrom<V1Volume>(
      ...migratableVolumes,
      { name: 'x', persistentVolumeClaim: { claimName: 'rwo' } },
      { name: 'y', dataVolume: { name: 'dv-rwo' } },
      { name: 'z', hostDisk: { path: '/z', type: 'Disk' } },
    );
    fc.assert(
      fc.property(fc.array(arbVolume, { maxLength: 6 }), fc.boolean(), (volumes, bridge) => {
        const s = spec({ volumes }, { interfaces: [{ name: 'default', ...(bridge ? { bridge: {} } : { masquerade: {} }) }] });
        const c = liveMigratableCondition(s, pvcs);
        const bad = volumes.some((v) => v.name === 'x' || v.name === 'y' || v.name === 'z');
        expect(c.status).toBe(bad || bridge ? 'False' : 'True');
        if (c.status === 'False') {
          expect(c.reason).toBeTruthy();
          expect(c.message).toBeTruthy();
        }
      }),
    );
  });
});
