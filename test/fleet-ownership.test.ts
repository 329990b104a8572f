// Invariant 4 on the real API server with simulated KubeVirt: a fleet never adopts, patches,
// restarts or deletes a VM it does not own, even one that carries the fleet's own labels and the
// very name the fleet would give its first VM. It takes the next free names, says so in status
// and in one Warning Event, and forgets everything about its VMs once they and it are gone.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { applyVM, createVM, FIELD_MANAGER } from '../controller/fleet/vm-writes.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { fleetCluster, isCondition, type FleetCluster } from './harness/fleet.ts';
import { waitFor } from './harness/wait.ts';

let c: FleetCluster;
beforeAll(async () => (c = await fleetCluster('owner', { nodes: { count: 3 } })));
afterAll(async () => c?.stop());

const USER_IMAGE = 'registry.example/user/app:1';

/** A VM as a user writes it by hand: labels that match the fleet's selector, no owner. */
function userVM(name: string, labels: Record<string, string>): V1VirtualMachine {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: c.namespace, labels },
    spec: {
      runStrategy: 'Always',
      template: {
        metadata: { labels },
        spec: {
          domain: { cpu: { sockets: 1, cores: 1, threads: 1 }, memory: { guest: '1Gi' }, devices: { disks: [{ name: 'rootdisk', disk: { bus: 'virtio' } }] } },
          volumes: [{ name: 'rootdisk', containerDisk: { image: USER_IMAGE } }],
        },
      },
    },
  };
}

const getVM = (name: string) => c.client.get<V1VirtualMachine>(RESOURCES.vm, { namespace: c.namespace, name });
const getVMI = (name: string) => c.client.get<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace, name });

it('leaves a user\'s VM under the fleet\'s first name alone and runs its VMs under other names', async () => {
  await c.client.create(RESOURCES.vm, userVM('web-0', { app: 'web' }));
  // The fleet's own label on it, too, without the owner reference: still not the fleet's.
  await c.client.create(RESOURCES.vm, userVM('web-2', { app: 'web', 'virtfleet.io/fleet': 'web' }));
  const running = await waitFor('the user\'s VMs running', async () => {
    const [a, b] = await Promise.all([getVMI('web-0'), getVMI('web-2')]);
    return a?.status?.phase === 'Running' && b?.status?.phase === 'Running' ? { a: a.metadata!.uid!, b: b.metadata!.uid! } : undefined;
  }, 60_000, 200);
  const before = { a: (await getVM('web-0'))!, b: (await getVM('web-2'))! };

  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'web', { replicas: 3 }));
  await c.waitForFleet('web', 'three VMs of its own ready, the conflict reported', (s) => s.readyReplicas === 3 && isCondition(s, 'Ready', 'True') && isCondition(s, 'NameConflict', 'True', 'NameHeldByAnotherObject'));

  const owned = (await c.fleetVMs('web')).filter((vm) => vm.metadata?.ownerReferences?.some((o) => o.kind === 'VMFleet'));
  expect(owned.map((vm) => vm.metadata!.name).sort()).toEqual(['web-1', 'web-3', 'web-4']);
  const status = (await c.fleetStatus('web'))!;
  expect(status.replicas).toBe(3);
  expect(status.conditions?.find((x) => x.type === 'NameConflict')?.message).toMatch(/^web-0, web-2 are held by VirtualMachines this fleet does not own/);

  // Give the fleet time to do anything it would wrongly do, then compare the user's VMs.
  await new Promise((r) => setTimeout(r, 2_000));
  for (const [name, was, vmiUid] of [['web-0', before.a, running.a], ['web-2', before.b, running.b]] as const) {
    const now = (await getVM(name))!;
    expect(now.metadata?.uid).toBe(was.metadata?.uid);
    expect(now.metadata?.generation).toBe(was.metadata?.generation);
    expect(now.metadata?.ownerReferences).toBeUndefined();
    expect(now.metadata?.labels).toEqual(was.metadata?.labels);
    expect(now.metadata?.annotations?.['virtfleet.io/drift']).toBeUndefined();
    expect(now.spec.template.spec?.volumes?.[0]?.containerDisk?.image).toBe(USER_IMAGE);
    expect(now.metadata?.managedFields?.some((m) => m.manager === 'virtfleet')).toBe(false);
    expect((await getVMI(name))?.metadata?.uid).toBe(vmiUid); // never restarted
  }

  const warnings = await waitFor('a NameConflict Warning', async () => {
    const list = await c.client.list<{ metadata?: { name?: string }; type: string; reason: string; message: string; involvedObject: { name: string; kind?: string } }>(RESOURCES.event, { namespace: c.namespace });
    const found = list.items.filter((e) => e.involvedObject.kind === 'VMFleet' && e.reason === 'NameConflict');
    return found.length > 0 ? found : undefined;
  });
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatchObject({ type: 'Warning', message: expect.stringMatching(/web-0, web-2/) });

  // Scaled down, the fleet deletes only its own VMs; the user's stay.
  await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'web' }, { spec: { replicas: 1 } });
  await c.waitForFleet('web', 'scaled down to 1', (s, vms) => s.replicas === 1 && vms.filter((vm) => vm.metadata?.ownerReferences).length === 1);
  expect((await getVM('web-0'))?.metadata?.uid).toBe(before.a.metadata?.uid);
  expect((await getVM('web-2'))?.metadata?.uid).toBe(before.b.metadata?.uid);

  // Once the user's VM goes, the name is free again and the condition says so.
  await c.client.delete(RESOURCES.vm, { namespace: c.namespace, name: 'web-0' });
  await c.client.delete(RESOURCES.vm, { namespace: c.namespace, name: 'web-2' });
  await waitFor('the user\'s VMs gone', async () => !(await getVM('web-0')) && !(await getVM('web-2')), 60_000, 100);
  await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'web' }, { spec: { replicas: 2 } });
  await c.waitForFleet('web', 'conflict cleared', (s) => s.readyReplicas === 2 && isCondition(s, 'NameConflict', 'False', 'NoNameConflict'));
  expect((await c.fleetVMs('web')).map((vm) => vm.metadata!.name).sort()).toEqual(['web-0', 'web-1']);

  // Deleted, the fleet takes its VMs and everything the controller remembered of them along.
  await c.client.delete(RESOURCES.vmFleet, { namespace: c.namespace, name: 'web' });
  await waitFor('fleet and VMs gone', async () => !(await c.client.get(RESOURCES.vmFleet, { namespace: c.namespace, name: 'web' })) && (await c.fleetVMs('web')).length === 0, 60_000, 200);
  await waitFor('memory empty', () => Object.values(c.manager.reconciler!.memorySizes()).every((n) => n === 0), 10_000, 100);
});

it('creates only where a name is free, updates only the VM it read, and owns what it created as if applied', async () => {
  const probe = (labels: Record<string, string>): V1VirtualMachine => {
    const vm = userVM('probe-0', labels);
    return { ...vm, spec: { ...vm.spec, runStrategy: 'Halted' } };
  };
  const created = (await createVM(c.client, probe({ app: 'probe', tier: 'a' })))!;
  expect(created.metadata?.managedFields?.find((m) => m.manager === FIELD_MANAGER)?.operation).toBe('Update');
  // A second create of the name, whoever holds it, changes nothing.
  expect(await createVM(c.client, probe({ app: 'hijacked' }))).toBeUndefined();
  expect((await getVM('probe-0'))?.metadata).toMatchObject({ uid: created.metadata?.uid, generation: 1, labels: { app: 'probe', tier: 'a' } });

  // An update of the VM it read drops a label the new desired state leaves out: the create's
  // fields became the field manager's applied ones.
  const updated = (await applyVM(c.client, probe({ app: 'probe' }), (await getVM('probe-0'))!))!;
  expect(updated.metadata?.labels).toEqual({ app: 'probe' });
  expect(updated.metadata?.managedFields?.filter((m) => m.manager === FIELD_MANAGER).map((m) => m.operation)).toEqual(['Apply']);

  // Replaced by someone else's VM under the same name: the update is refused, nothing changes.
  await c.client.delete(RESOURCES.vm, { namespace: c.namespace, name: 'probe-0' });
  await waitFor('probe-0 gone', async () => !(await getVM('probe-0')), 10_000, 50);
  const theirs = await c.client.create<V1VirtualMachine>(RESOURCES.vm, probe({ app: 'theirs' }));
  expect(await applyVM(c.client, probe({ app: 'probe' }), updated)).toBeUndefined();
  const now = await getVM('probe-0');
  expect(now?.metadata).toMatchObject({ uid: theirs.metadata?.uid, generation: 1, labels: { app: 'theirs' } });
  // Gone altogether: an update never turns into a create.
  await c.client.delete(RESOURCES.vm, { namespace: c.namespace, name: 'probe-0' });
  await waitFor('probe-0 gone', async () => !(await getVM('probe-0')), 10_000, 50);
  expect(await applyVM(c.client, probe({ app: 'probe' }), updated)).toBeUndefined();
  expect(await getVM('probe-0')).toBeUndefined();
});
