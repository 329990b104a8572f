// The simulator's KubeVirt state machines on the real API server: VMs start VMIs on matching
// nodes, migrations move them under KubeVirt's admission rules and limits, aborts and node
// failures behave as KubeVirt's do.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { KubernetesObject, V1Node } from '@kubernetes/client-node';
import type { V1VirtualMachine, V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { ApiError } from '../controller/kube/client.ts';
import { pathOf, RESOURCES } from '../controller/kube/resources.ts';
import { Informer } from '../controller/runtime/informer.ts';
import { virtualMachine, type VMOptions } from './fixtures/vms.ts';
import { kubeConfig } from './harness/cluster.ts';
import { simulatedCluster, type SimulatedCluster } from './harness/simulated.ts';
import { waitFor } from './harness/wait.ts';

let c: SimulatedCluster;
beforeAll(async () => {
  c = await simulatedCluster('sim', {
    speed: 20,
    nodes: { count: 6, zones: ['zone-a', 'zone-b', 'zone-c'], cpu: '64', memory: '256Gi' },
    vmi: { pendingMs: 200, schedulingMs: 200, scheduledMs: 1_000, stoppingMs: 500 },
    migration: { phaseMs: 200, msPerGiB: 4_000 },
  });
});
afterAll(async () => c?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const vmi = (name: string) => c.client.get<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace, name });
const vm = (name: string) => c.client.get<V1VirtualMachine>(RESOURCES.vm, { namespace: c.namespace, name });

async function runningVM(name: string, opts: VMOptions = {}): Promise<V1VirtualMachineInstance> {
  await c.client.create(RESOURCES.vm, virtualMachine(c.namespace, name, opts));
  return waitFor(`${name} Running`, async () => {
    const i = await vmi(name);
    return i?.status?.phase === 'Running' && i.status.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ? i : undefined;
  });
}

function migration(name: string, vmiName: string): V1VirtualMachineInstanceMigration {
  return { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name, namespace: c.namespace }, spec: { vmiName } };
}

async function refusal(m: V1VirtualMachineInstanceMigration): Promise<string | undefined> {
  try {
    await c.client.create(RESOURCES.vmim, m);
    return undefined;
  } catch (err) {
    if (err instanceof ApiError) return err.message;
    throw err;
  }
}

const finished = (m?: V1VirtualMachineInstanceMigration) => m?.status?.phase === 'Succeeded' || m?.status?.phase === 'Failed';
const getMigration = (name: string) => c.client.get<V1VirtualMachineInstanceMigration>(RESOURCES.vmim, { namespace: c.namespace, name });

describe('VirtualMachine', () => {
  it('runStrategy Always gets a Running VMI on a node matching its placement, and VM status says so', async () => {
    const running = await runningVM('placed', { nodeSelector: { 'topology.kubernetes.io/zone': 'zone-b' } });
    const node = await c.client.get<V1Node>(RESOURCES.node, { name: running.status!.nodeName! });
    expect(node!.metadata!.labels!['topology.kubernetes.io/zone']).toBe('zone-b');
    expect(running.status?.conditions?.find((x) => x.type === 'LiveMigratable')?.status).toBe('True');
    const phases = running.status?.phaseTransitionTimestamps?.map((t) => t.phase);
    expect(phases).toEqual(['Pending', 'Scheduling', 'Scheduled', 'Running']);
    const status = await waitFor('VM status Running', async () => ((await vm('placed'))?.status?.printableStatus === 'Running' ? (await vm('placed'))!.status : undefined));
    expect(status).toMatchObject({ ready: true, created: true, runStrategy: 'Always' });
  });

  it('writes nothing for a running VM and its VMI while nothing it reports changes, however often it looks again', async () => {
    await runningVM('quiet');
    await waitFor('VM status Running and ready', async () => { const v = await vm('quiet'); return v?.status?.printableStatus === 'Running' && v.status.ready === true; });
    await sleep(1_000);
    const from = c.simRequests.length;
    // Each annotation is an event of the VM or VMI that both of the simulator's controllers take up.
    for (let i = 0; i < 3; i++) {
      await c.client.mergePatch(RESOURCES.vmi, { namespace: c.namespace, name: 'quiet' }, { metadata: { annotations: { 'test/touched': String(i) } } });
      await c.client.mergePatch(RESOURCES.vm, { namespace: c.namespace, name: 'quiet' }, { metadata: { annotations: { 'test/touched': String(i) } } });
    }
    await sleep(1_500);
    const writes = c.simRequests.slice(from).filter((r) => r.method !== 'GET' && /\/(virtualmachines|virtualmachineinstances)\/quiet(\/status)?$/.test(r.path));
    expect(writes).toEqual([]);
  });

  it('runStrategy Halted stops the VMI, and an unplaceable VMI shows ErrorUnschedulable', async () => {
    await runningVM('halting');
    await c.client.mergePatch(RESOURCES.vm, { namespace: c.namespace, name: 'halting' }, { spec: { runStrategy: 'Halted' } });
    await waitFor('VMI gone', async () => (await vmi('halting')) === undefined);
    await waitFor('VM Stopped', async () => (await vm('halting'))?.status?.printableStatus === 'Stopped');

    await c.client.create(RESOURCES.vm, virtualMachine(c.namespace, 'nowhere', { nodeSelector: { 'topology.kubernetes.io/zone': 'zone-z' } }));
    const status = await waitFor('ErrorUnschedulable', async () => ((await vm('nowhere'))?.status?.printableStatus === 'ErrorUnschedulable' ? (await vmi('nowhere'))!.status : undefined));
    expect(status.conditions?.find((x) => x.type === 'PodScheduled')?.message).toMatch(/0\/6 nodes are available/);
  });

  it('a changed nodeSelector is patched onto the running VMI without moving it', async () => {
    const before = await runningVM('relabel', { nodeSelector: { 'topology.kubernetes.io/zone': 'zone-a' } });
    const current = (await vm('relabel'))!;
    current.spec.template!.spec!.nodeSelector = { 'topology.kubernetes.io/zone': 'zone-c' };
    await c.client.replace(RESOURCES.vm, current);
    const after = await waitFor('selector on VMI', async () => {
      const i = await vmi('relabel');
      return i?.spec?.nodeSelector?.['topology.kubernetes.io/zone'] === 'zone-c' ? i : undefined;
    });
    expect(after.status?.nodeName).toBe(before.status?.nodeName);
    expect((await vm('relabel'))?.status?.conditions?.some((x) => x.type === 'RestartRequired')).toBe(false);
  });
});

describe('live migration', () => {
  it('lands on a node that satisfies the VMI\'s current constraints and updates the VMI', async () => {
    const before = await runningVM('mover', { nodeSelector: { 'topology.kubernetes.io/zone': 'zone-a' } });
    const current = (await vm('mover'))!;
    current.spec.template!.spec!.nodeSelector = { 'topology.kubernetes.io/zone': 'zone-c' };
    await c.client.replace(RESOURCES.vm, current);
    await waitFor('selector on VMI', async () => (await vmi('mover'))?.spec?.nodeSelector?.['topology.kubernetes.io/zone'] === 'zone-c');
    await c.client.create(RESOURCES.vmim, migration('mover-1', 'mover'));
    const done = await waitFor('migration finished', async () => { const m = await getMigration('mover-1'); return finished(m) ? m : undefined; });
    expect(done.status?.phase).toBe('Succeeded');
    expect(done.status?.phaseTransitionTimestamps?.map((t) => t.phase)).toEqual(['Pending', 'Scheduling', 'Scheduled', 'PreparingTarget', 'TargetReady', 'Running', 'Succeeded']);
    const after = (await vmi('mover'))!;
    expect(after.status?.nodeName).not.toBe(before.status?.nodeName);
    const node = await c.client.get<V1Node>(RESOURCES.node, { name: after.status!.nodeName! });
    expect(node!.metadata!.labels!['topology.kubernetes.io/zone']).toBe('zone-c');
    expect(after.status?.migrationState).toMatchObject({ completed: true, sourceNode: before.status?.nodeName, targetNode: after.status?.nodeName });

    // A second migration starts from a fresh migrationState and moves the VMI again.
    await c.client.create(RESOURCES.vmim, migration('mover-2', 'mover'));
    const again = await waitFor('second migration finished', async () => { const m = await getMigration('mover-2'); return finished(m) ? m : undefined; });
    expect(again.status?.phase).toBe('Succeeded');
    const moved = (await vmi('mover'))!;
    expect(moved.status?.nodeName).not.toBe(after.status?.nodeName);
    expect(moved.status?.migrationState).toMatchObject({ completed: true, migrationUid: again.metadata?.uid, sourceNode: after.status?.nodeName, targetNode: moved.status?.nodeName });
    expect(moved.status?.migrationState?.failed).toBeFalsy();
  });

  it('refuses a migration of a VMI that is not live-migratable, and a second concurrent one', async () => {
    await runningVM('gpu', { hostDevice: true });
    const notMigratable = await waitFor('LiveMigratable False', async () => (await vmi('gpu'))?.status?.conditions?.find((x) => x.type === 'LiveMigratable' && x.status === 'False'));
    expect(notMigratable.reason).toBe('HostDeviceNotLiveMigratable');
    expect(await refusal(migration('gpu-1', 'gpu'))).toMatch(/not live migratable|HostDeviceNotLiveMigratable/i);

    await c.client.create(RESOURCES.pvc, {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'rwo-disk', namespace: c.namespace },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    });
    await runningVM('pinned', { claim: 'rwo-disk' });
    const rwo = await waitFor('LiveMigratable False', async () => (await vmi('pinned'))?.status?.conditions?.find((x) => x.type === 'LiveMigratable' && x.status === 'False'));
    expect(rwo.reason).toBe('DisksNotLiveMigratable');

    await runningVM('busy', { memory: '16Gi' });
    await c.client.create(RESOURCES.vmim, migration('busy-1', 'busy'));
    expect(await refusal(migration('busy-2', 'busy'))).toMatch(/in-flight migration detected/);
    await waitFor('busy-1 finished', async () => finished(await getMigration('busy-1')));
  });

  it('runs at most 5 of 20 migrations requested at once, observed from the API server', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `many-${i}`);
    await Promise.all(names.map((n) => c.client.create(RESOURCES.vm, virtualMachine(c.namespace, n, { memory: '2Gi' }))));
    await waitFor('20 VMIs Running', async () => (await Promise.all(names.map(vmi))).every((i) => i?.status?.phase === 'Running'), 120_000);

    const phases = new Map<string, string>();
    let maxInFlight = 0;
    const inFlight = new Set(['Scheduling', 'Scheduled', 'PreparingTarget', 'TargetReady', 'Running']);
    // The project's informer, not a bare watch: it resumes and relists if its watch is cut, so a
    // phase is never missed for good.
    const migrations = new Informer<V1VirtualMachineInstanceMigration & KubernetesObject>(kubeConfig(), {
      path: pathOf(RESOURCES.vmim, c.namespace),
      list: () => c.client.list<V1VirtualMachineInstanceMigration>(RESOURCES.vmim, { namespace: c.namespace }) as never,
    });
    migrations.on((_type, obj) => {
      if (!obj.metadata?.name?.startsWith('many-')) return;
      phases.set(obj.metadata.name, obj.status?.phase ?? '');
      maxInFlight = Math.max(maxInFlight, [...phases.values()].filter((p) => inFlight.has(p)).length);
    });
    await migrations.start();
    try {
      await Promise.all(names.map((n) => c.client.create(RESOURCES.vmim, migration(n, n))));
      await waitFor('all 20 finished', () => names.every((n) => ['Succeeded', 'Failed'].includes(phases.get(n) ?? '')), 120_000);
    } finally {
      await migrations.stop();
    }
    expect(maxInFlight).toBeGreaterThan(1);
    expect(maxInFlight).toBeLessThanOrEqual(5);
    expect(names.every((n) => phases.get(n) === 'Succeeded')).toBe(true);
  });

  it('aborts an in-flight migration when it is deleted; the VMI stays on its source', async () => {
    const before = await runningVM('aborted', { memory: '200Gi' });
    await c.client.create(RESOURCES.vmim, migration('aborted-1', 'aborted'));
    await waitFor('migration Running', async () => (await getMigration('aborted-1'))?.status?.phase === 'Running');
    await c.client.delete(RESOURCES.vmim, { namespace: c.namespace, name: 'aborted-1' });
    await waitFor('migration gone', async () => (await getMigration('aborted-1')) === undefined);
    const after = (await vmi('aborted'))!;
    expect(after.status?.nodeName).toBe(before.status?.nodeName);
    expect(after.status?.migrationState).toMatchObject({ abortStatus: 'Succeeded', failed: true });
  });
});

describe('node failure', () => {
  it('fails the VMIs of a failed node, and runStrategy Always starts them again elsewhere', async () => {
    const first = await runningVM('survivor');
    const node = first.status!.nodeName!;
    await c.sim.nodes.fail(node);
    await waitFor('VMI failed or replaced', async () => {
      const i = await vmi('survivor');
      return i?.metadata?.uid !== first.metadata?.uid || i?.status?.phase === 'Failed';
    });
    const replaced = await waitFor('new VMI running elsewhere', async () => {
      const i = await vmi('survivor');
      return i?.metadata?.uid !== first.metadata?.uid && i?.status?.phase === 'Running' ? i : undefined;
    });
    expect(replaced.status?.nodeName).not.toBe(node);
    await c.sim.nodes.recover(node);
  });
});
