// A simulated cluster with the fleet controller running in this process, scoped to the test's
// namespace, and a `fedora` GoldenImage; plus watchers that sample fleet VMs from the API server.
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { Watch } from '@kubernetes/client-node';
import type { VMFleetStatus } from '../../controller/api/generated/types.ts';
import { FLEET_LABEL } from '../../controller/core/fleet/names.ts';
import { VirtFleetManager, type VirtFleetOptions } from '../../controller/virtfleet.ts';
import type { VMFleet } from '../../controller/fleet/reconciler.ts';
import { KubeClient } from '../../controller/kube/client.ts';
import { pathOf, RESOURCES } from '../../controller/kube/resources.ts';
import type { DeepPartial, SimConfig } from '../../sim/config.ts';
import { createRegistryObjects, goldenImage } from '../fixtures/fleets.ts';
import { kubeConfig } from './cluster.ts';
import { simulatedCluster, type SimulatedCluster } from './simulated.ts';
import { waitFor } from './wait.ts';

export interface FleetCluster extends SimulatedCluster {
  manager: VirtFleetManager;
  /** Requests the controller made, by HTTP verb. */
  requests: Record<string, number>;
  fleetStatus(name: string): Promise<VMFleetStatus | undefined>;
  fleetVMs(name: string): Promise<V1VirtualMachine[]>;
  waitForFleet(name: string, what: string, probe: (s: VMFleetStatus, vms: V1VirtualMachine[]) => boolean, timeoutMs?: number): Promise<void>;
}

const quiet = { info: () => undefined, error: (msg: string, fields?: Record<string, unknown>) => console.error(`controller: ${msg} ${JSON.stringify(fields ?? {})}`) };

export async function fleetCluster(prefix: string, config: DeepPartial<SimConfig> = {}, options: { controller?: boolean; resyncMs?: number; goldenImage?: boolean; manager?: Partial<VirtFleetOptions> } = {}): Promise<FleetCluster> {
  const c = await simulatedCluster(prefix, { speed: 20, ...config });
  // The pull secret and CA the fixture GoldenImage names, so that it is complete as a user's is.
  await createRegistryObjects(c.client, c.namespace);
  if (options.goldenImage !== false) await c.client.create(RESOURCES.goldenImage, goldenImage(c.namespace, 'fedora'));
  const requests: Record<string, number> = {};
  const manager = new VirtFleetManager({
    kubeConfig: kubeConfig(),
    namespace: c.namespace,
    qps: 0,
    resyncMs: options.resyncMs ?? 60_000,
    log: quiet,
    // Each test's namespace is its own simulated cluster, with its own migration limits.
    migrationBudgetScope: 'namespace',
    ...options.manager,
    // Counted for every test, and handed on to a test's own observer.
    onRequest: (method, path) => {
      requests[method] = (requests[method] ?? 0) + 1;
      options.manager?.onRequest?.(method, path);
    },
  });
  if (options.controller !== false) await manager.start();
  const fleetStatus = async (name: string) => (await c.client.get<VMFleet>(RESOURCES.vmFleet, { namespace: c.namespace, name }))?.status;
  const fleetVMs = async (name: string) => (await c.client.list<V1VirtualMachine>(RESOURCES.vm, { namespace: c.namespace, labelSelector: `${FLEET_LABEL}=${name}` })).items;
  return {
    ...c,
    manager,
    requests,
    fleetStatus,
    fleetVMs,
    waitForFleet: async (name, what, probe, timeoutMs = 90_000) => {
      try {
        await waitFor(what, async () => {
          const s = await fleetStatus(name);
          return !!s && probe(s, await fleetVMs(name));
        }, timeoutMs, 200);
      } catch (err) {
        // Say where the fleet got stuck: its status and each VM's revision and state.
        const s = await fleetStatus(name);
        const vms = (await fleetVMs(name)).map((vm) => `${vm.metadata!.name}:${vm.metadata!.labels?.['virtfleet.io/revision']}:${vm.status?.printableStatus}:${vm.status?.ready}`);
        throw new Error(`${(err as Error).message}\nstatus: ${JSON.stringify(s)}\nVMs: ${vms.join(' ')}`);
      }
    },
    stop: async () => {
      await manager.stop();
      await c.stop();
    },
  };
}

export const isCondition = (s: VMFleetStatus, type: string, status: string, reason?: string) =>
  s.conditions?.some((c) => c.type === type && c.status === status && (reason === undefined || c.reason === reason)) ?? false;

/**
 * Watches a fleet's VMs on the API server and records, at every change, how many are not
 * available (not Ready, or being deleted) and how many exist.
 */
export async function sampleFleet(namespace: string, fleet: string): Promise<{ maxUnavailable: (replicas: number) => number; maxCount: () => number; stop: () => void }> {
  const vms = new Map<string, V1VirtualMachine>();
  const worst = new Map<number, number>();
  let maxCount = 0;
  const record = () => {
    const live = [...vms.values()].filter((vm) => !vm.metadata?.deletionTimestamp);
    const ready = live.filter((vm) => vm.status?.ready === true).length;
    maxCount = Math.max(maxCount, vms.size);
    worst.set(ready, (worst.get(ready) ?? 0) + 1);
  };
  // List first and watch from its resourceVersion, so the samples start from the whole fleet.
  const list = await new KubeClient(kubeConfig(), { qps: 0 }).list<V1VirtualMachine>(RESOURCES.vm, { namespace, labelSelector: `${FLEET_LABEL}=${fleet}` });
  for (const vm of list.items) vms.set(vm.metadata!.name!, vm);
  record();
  const req = await new Watch(kubeConfig()).watch(pathOf(RESOURCES.vm, namespace), { labelSelector: `${FLEET_LABEL}=${fleet}`, resourceVersion: list.metadata?.resourceVersion }, (type, obj: V1VirtualMachine) => {
    if (type === 'DELETED') vms.delete(obj.metadata!.name!);
    else vms.set(obj.metadata!.name!, obj);
    record();
  }, () => undefined);
  return {
    maxUnavailable: (replicas) => Math.max(0, ...[...worst.keys()].map((ready) => replicas - ready)),
    maxCount: () => maxCount,
    stop: () => req.abort(),
  };
}
