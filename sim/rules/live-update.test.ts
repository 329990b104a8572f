import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1VirtualMachineInstanceSpec } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { semanticEqual } from '../../controller/core/semantic.ts';
import { RestartReason, classifyVmChange } from './live-update.ts';

type Spec = V1VirtualMachineInstanceSpec;

function base(): Spec {
  return {
    domain: {
      cpu: { sockets: 2, cores: 1, threads: 1, maxSockets: 8 },
      memory: { guest: '4Gi', maxGuest: '16Gi' },
      devices: {
        disks: [{ name: 'root', disk: { bus: 'virtio' } }],
        interfaces: [{ name: 'default', masquerade: {} }],
      },
    },
    networks: [{ name: 'default', pod: {} }],
    volumes: [{ name: 'root', containerDisk: { image: 'quay.io/containerdisks/fedora:41' } }],
    nodeSelector: { zone: 'a' },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'vms', effect: 'NoSchedule' }],
  };
}

function edit(f: (s: Spec) => void): Spec {
  const s = base();
  f(s);
  return s;
}

describe('semanticEqual', () => {
  it('treats undefined, null, {} and [] as equal and compares deeply', () => {
    expect(semanticEqual(undefined, {})).toBe(true);
    expect(semanticEqual(null, [])).toBe(true);
    expect(semanticEqual({ a: {} }, {})).toBe(true);
    expect(semanticEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toBe(true);
    expect(semanticEqual({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(semanticEqual({ a: '' }, {})).toBe(false);
    expect(semanticEqual({ a: false }, {})).toBe(false);
    expect(semanticEqual([1], { 0: 1 })).toBe(false);
  });
});

describe('classifyVmChange', () => {
  it('yields nothing for an identical spec', () => {
    expect(classifyVmChange(base(), base(), true)).toEqual({ restartRequired: false, restartReasons: [] });
  });

  it('patches placement changes onto the VMI without a restart', () => {
    const desired = edit((s) => {
      s.nodeSelector = { zone: 'b' };
      s.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }] } } };
    });
    expect(classifyVmChange(base(), desired, false)).toEqual({
      placement: { nodeSelector: { zone: 'b' }, affinity: desired.affinity },
      restartRequired: false,
      restartReasons: [],
    });
  });

  it('patches a removed placement field as null', () => {
    const desired = edit((s) => {
      delete s.tolerations;
    });
    expect(classifyVmChange(base(), desired, true).placement).toEqual({ tolerations: null });
  });

  it('hotplugs sockets up to maxSockets', () => {
    const r = classifyVmChange(base(), edit((s) => (s.domain.cpu!.sockets = 8)), true);
    expect(r).toEqual({ hotVCPU: { sockets: 8 }, restartRequired: false, restartReasons: [] });
  });

  it('defaults maxSockets to 4 × the running sockets', () => {
    const noMax = (s: Spec) => delete s.domain.cpu!.maxSockets;
    const running = edit(noMax);
    expect(classifyVmChange(running, edit((s) => (noMax(s), (s.domain.cpu!.sockets = 8))), true).hotVCPU).toEqual({ sockets: 8 });
    expect(classifyVmChange(running, edit((s) => (noMax(s), (s.domain.cpu!.sockets = 9))), true).restartReasons).toEqual([RestartReason.SocketsAboveMax]);
    // setting maxSockets in the template is itself a non-live change
    expect(classifyVmChange(running, edit((s) => (s.domain.cpu!.sockets = 4)), true).restartReasons).toEqual([RestartReason.NonLiveUpdatable]);
  });

  it('requires a restart for sockets beyond maxSockets, fewer sockets, or multiqueue', () => {
    expect(classifyVmChange(base(), edit((s) => (s.domain.cpu!.sockets = 9)), true)).toEqual({ restartRequired: true, restartReasons: [RestartReason.SocketsAboveMax] });
    expect(classifyVmChange(base(), edit((s) => (s.domain.cpu!.sockets = 1)), true)).toEqual({ restartRequired: true, restartReasons: [RestartReason.SocketsReduced] });
    const mq = (s: Spec) => (s.domain.devices.networkInterfaceMultiqueue = true);
    expect(classifyVmChange(edit(mq), edit((s) => (mq(s), (s.domain.cpu!.sockets = 4))), true).restartReasons).toEqual([RestartReason.SocketsWithMultiQueue]);
  });

  it('hotplugs guest memory up to maxGuest on a migratable VMI', () => {
    expect(classifyVmChange(base(), edit((s) => (s.domain.memory!.guest = '8Gi')), true)).toEqual({ hotMemory: { guest: '8Gi' }, restartRequired: false, restartReasons: [] });
    expect(classifyVmChange(base(), edit((s) => (s.domain.memory!.guest = '16384Mi')), true).hotMemory).toEqual({ guest: '16384Mi' });
  });

  it('compares memory as quantities', () => {
    expect(classifyVmChange(base(), edit((s) => (s.domain.memory!.guest = '4096Mi')), true)).toEqual({ restartRequired: false, restartReasons: [] });
  });

  it('requires a restart for memory beyond maxGuest, less memory, or a non-migratable VMI', () => {
    expect(classifyVmChange(base(), edit((s) => (s.domain.memory!.guest = '17Gi')), true).restartReasons).toEqual([RestartReason.MemoryAboveMax]);
    expect(classifyVmChange(base(), edit((s) => (s.domain.memory!.guest = '2Gi')), true).restartReasons).toEqual([RestartReason.MemoryReduced]);
    expect(classifyVmChange(base(), edit((s) => (s.domain.memory!.guest = '8Gi')), false).restartReasons).toEqual([RestartReason.MemoryNotMigratable]);
  });

  it('defaults maxGuest to 4 × the running guest memory', () => {
    const noMax = (s: Spec) => delete s.domain.memory!.maxGuest;
    const running = edit(noMax);
    expect(classifyVmChange(running, edit((s) => (noMax(s), (s.domain.memory!.guest = '16Gi'))), true).hotMemory).toEqual({ guest: '16Gi' });
    expect(classifyVmChange(running, edit((s) => (noMax(s), (s.domain.memory!.guest = '20Gi'))), true).restartReasons).toEqual([RestartReason.MemoryAboveMax]);
  });

  it('requires a restart for any other change and then propagates nothing live', () => {
    const desired = edit((s) => {
      s.volumes![0]!.containerDisk!.image = 'quay.io/containerdisks/fedora:42';
      s.nodeSelector = { zone: 'b' };
      s.domain.cpu!.sockets = 4;
    });
    expect(classifyVmChange(base(), desired, true)).toEqual({ restartRequired: true, restartReasons: [RestartReason.NonLiveUpdatable] });
    expect(classifyVmChange(base(), edit((s) => (s.domain.cpu!.cores = 2)), true).restartRequired).toBe(true);
    expect(classifyVmChange(base(), edit((s) => (s.evictionStrategy = 'LiveMigrate')), true).restartRequired).toBe(true);
    expect(classifyVmChange(base(), edit((s) => s.domain.devices.disks!.push({ name: 'data', disk: {} })), true).restartRequired).toBe(true);
  });

  it('lists every restart reason', () => {
    const desired = edit((s) => {
      s.hostname = 'new';
      s.domain.cpu!.sockets = 1;
      s.domain.memory!.guest = '1Gi';
    });
    expect(classifyVmChange(base(), desired, true).restartReasons).toEqual([RestartReason.NonLiveUpdatable, RestartReason.SocketsReduced, RestartReason.MemoryReduced]);
  });

  it('ignores fields KubeVirt defaults on the VMI when the template leaves them out', () => {
    const running = edit((s) => {
      s.architecture = 'amd64';
      s.terminationGracePeriodSeconds = 180;
      s.domain.machine = { type: 'q35' };
      s.domain.firmware = { uuid: '5d307ca9-b3ef-428c-8861-06e72d69f223', serial: 'abc' };
      s.domain.cpu!.model = 'host-model';
      s.domain.resources = { requests: { memory: '4Gi', cpu: '200m' } };
      s.domain.features = { acpi: {} };
      s.volumes![0]!.containerDisk!.imagePullPolicy = 'IfNotPresent';
    });
    const desired = edit((s) => {
      delete s.domain.devices.disks![0]!.disk;
      delete s.domain.cpu!.maxSockets;
      delete s.domain.memory!.maxGuest;
    });
    expect(classifyVmChange(running, desired, true)).toEqual({ restartRequired: false, restartReasons: [] });
  });

  it('still notices a template change to a defaulted field it does set', () => {
    const running = edit((s) => (s.domain.machine = { type: 'q35' }));
    expect(classifyVmChange(running, edit((s) => (s.domain.machine = { type: 'pc-q35-rhel9.4.0' })), true).restartRequired).toBe(true);
  });

  it('treats hotpluggable volumes and their disks as live-updatable', () => {
    const desired = edit((s) => {
      s.volumes!.push({ name: 'hot', persistentVolumeClaim: { claimName: 'extra', hotpluggable: true } });
      s.domain.devices.disks!.push({ name: 'hot', disk: { bus: 'scsi' } });
    });
    expect(classifyVmChange(base(), desired, true)).toEqual({ restartRequired: false, restartReasons: [] });
    expect(classifyVmChange(desired, base(), true)).toEqual({ restartRequired: false, restartReasons: [] });
  });

  it('requires a restart when the template sets guest memory the VMI did not have', () => {
    const running = edit((s) => delete s.domain.memory);
    expect(classifyVmChange(running, base(), true).restartReasons).toEqual([RestartReason.NonLiveUpdatable]);
  });

  it('does not modify its inputs', () => {
    const running = base();
    const desired = edit((s) => (s.hostname = 'x'));
    const before = structuredClone([running, desired]);
    classifyVmChange(running, desired, true);
    expect([running, desired]).toEqual(before);
  });
});

describe('classifyVmChange properties', () => {
  const arbSelector = fc.option(fc.dictionary(fc.constantFrom('zone', 'rack', 'disk'), fc.constantFrom('a', 'b', 'ssd')), { nil: undefined });
  const arbTolerations = fc.option(
    fc.array(fc.record({ key: fc.constantFrom('dedicated', 'gpu'), operator: fc.constantFrom('Equal' as const, 'Exists' as const), effect: fc.constantFrom('NoSchedule' as const, 'NoExecute' as const) })),
    { nil: undefined },
  );
  const arbAffinity = fc.option(
    fc.constantFrom('a', 'b').map((zone) => ({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In' as const, values: [zone] }] }] } } })),
    { nil: undefined },
  );
  const arbSpec = fc
    .record({
      sockets: fc.integer({ min: 1, max: 4 }),
      maxSockets: fc.option(fc.integer({ min: 4, max: 16 }), { nil: undefined }),
      guestGi: fc.integer({ min: 1, max: 8 }),
      image: fc.constantFrom('img:1', 'img:2'),
      nodeSelector: arbSelector,
      tolerations: arbTolerations,
      affinity: arbAffinity,
    })
    .map(
      (o): Spec => ({
        domain: { cpu: { sockets: o.sockets, maxSockets: o.maxSockets }, memory: { guest: `${o.guestGi}Gi` }, devices: {} },
        volumes: [{ name: 'root', containerDisk: { image: o.image } }],
        nodeSelector: o.nodeSelector,
        tolerations: o.tolerations,
        affinity: o.affinity,
      }),
    );

  it('an identical spec yields nothing', () => {
    fc.assert(
      fc.property(arbSpec, fc.boolean(), (s, migratable) => {
        expect(classifyVmChange(s, structuredClone(s), migratable)).toEqual({ restartRequired: false, restartReasons: [] });
      }),
    );
  });

  it('a change only to placement fields never requires a restart and patches exactly the changed fields', () => {
    fc.assert(
      fc.property(arbSpec, arbSelector, arbTolerations, arbAffinity, fc.boolean(), (running, nodeSelector, tolerations, affinity, migratable) => {
        const desired: Spec = { ...structuredClone(running), nodeSelector, tolerations, affinity };
        const r = classifyVmChange(running, desired, migratable);
        expect(r.restartRequired).toBe(false);
        expect(r.hotVCPU).toBeUndefined();
        expect(r.hotMemory).toBeUndefined();
        for (const field of ['nodeSelector', 'tolerations', 'affinity'] as const) {
          const changed = !semanticEqual(running[field], desired[field]);
          expect(r.placement !== undefined && field in r.placement).toBe(changed);
          if (changed) expect(r.placement![field]).toEqual(desired[field] ?? null);
        }
      }),
    );
  });

  it('restartRequired exactly when there are reasons, and then nothing live', () => {
    fc.assert(
      fc.property(arbSpec, arbSpec, fc.boolean(), (running, desired, migratable) => {
        const r = classifyVmChange(running, desired, migratable);
        expect(r.restartRequired).toBe(r.restartReasons.length > 0);
        if (r.restartRequired) expect(Object.keys(r).sort()).toEqual(['restartReasons', 'restartRequired']);
        if (running.volumes![0]!.containerDisk!.image !== desired.volumes![0]!.containerDisk!.image) expect(r.restartRequired).toBe(true);
      }),
    );
  });
});
