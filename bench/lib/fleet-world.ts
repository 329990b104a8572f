// The world the at-rest benchmarks share: a control plane with the CRDs, a registry with the
// fixture image, one GoldenImage, the KubeVirt/CDI simulator in a child process on N nodes
// (every VMI is Running soon after its VM is created), and fleets of alike VMs added on demand.
import { availableParallelism, loadavg } from 'node:os';
import type { VMFleet } from '../../controller/fleet/reconciler.ts';
import { KubeClient } from '../../controller/kube/client.ts';
import { RESOURCES } from '../../controller/kube/resources.ts';
import { ensureAssets } from '../../controller/local/assets.ts';
import { ControlPlane } from '../../controller/local/control-plane.ts';
import { installCrds } from '../../controller/local/install-crds.ts';
import { CRD_DIRS } from '../../controller/cli/local.ts';
import type { DeepPartial, SimConfig } from '../../sim/config.ts';
import { createRegistryObjects, goldenImage, vmFleet } from '../../test/fixtures/fleets.ts';
import { startSharedRegistry } from '../../test/harness/registry.ts';
import { spawnSimulator } from './sim-child.ts';

export interface FleetWorld {
  plane: ControlPlane;
  client: KubeClient;
  namespace: string;
  /** Fleets created so far (fleet-0, fleet-1, ...). */
  readonly fleets: number;
  /** Creates fleets until there are `count`, each of `vmsPerFleet` VMs. */
  addFleets(count: number): Promise<void>;
  /** Fleets whose VMs are all ready (status.readyReplicas). */
  readyFleets(): Promise<number>;
  stop(): Promise<void>;
}

/** A benchmark's cluster: what every world starts from (see startBenchCluster). */
export interface BenchCluster {
  plane: ControlPlane;
  /** Unlimited (no client rate limit), for the benchmark's own setup and reads. */
  client: KubeClient;
  /** Stops the control plane, then the registry. */
  stop(): Promise<void>;
}

/**
 * A loopback registry holding the fixture images, a control plane with VirtFleet's, KubeVirt's and
 * CDI's CRDs, and `namespace` with the fixture GoldenImage `fedora` and its registry objects. What
 * it started is stopped again if a later step fails.
 */
export async function startBenchCluster(namespace: string): Promise<BenchCluster> {
  const registry = await startSharedRegistry();
  const plane = await ControlPlane.start({ assets: await ensureAssets() }).catch(async (err: unknown) => {
    await registry.stop();
    throw err;
  });
  const stop = async () => {
    await plane.stop();
    await registry.stop();
  };
  try {
    await installCrds(plane.kubeConfig(), CRD_DIRS);
    const client = new KubeClient(plane.kubeConfig(), { qps: 0, maxSockets: 32 });
    await client.create(RESOURCES.namespace, { metadata: { name: namespace } });
    await createRegistryObjects(client, namespace);
    await client.create(RESOURCES.goldenImage, goldenImage(namespace, 'fedora'));
    return { plane, client, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export async function startFleetWorld(o: { namespace: string; nodes: number; speed: number; vmsPerFleet: number }): Promise<FleetWorld> {
  const { plane, client, stop: stopCluster } = await startBenchCluster(o.namespace);
  let stopSim: (() => Promise<void>) | undefined;
  const stop = async () => {
    await stopSim?.();
    await stopCluster();
  };
  try {
    const { namespace } = o;
    const sim: DeepPartial<SimConfig> = {
      namespaces: [namespace],
      speed: o.speed,
      nodes: { count: o.nodes, prefix: 'node' },
      vmi: { pendingMs: 100, schedulingMs: 100, scheduledMs: 200 },
    };
    stopSim = (await spawnSimulator(plane.kubeconfigPath, sim)).stop;
    let fleets = 0;
    return {
      plane,
      client,
      namespace,
      get fleets() {
        return fleets;
      },
      addFleets: async (count) => {
        for (; fleets < count; fleets++) await client.create(RESOURCES.vmFleet, vmFleet(namespace, `fleet-${fleets}`, { replicas: o.vmsPerFleet }));
      },
      readyFleets: async () => {
        const list = await client.list<VMFleet>(RESOURCES.vmFleet, { namespace });
        return list.items.filter((f) => f.status?.readyReplicas === o.vmsPerFleet && f.status?.replicas === o.vmsPerFleet).length;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The median of xs (the lower one of the middle two when even). */
export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
export const max = (xs: readonly number[]) => Math.max(...xs);
export const MiB = 1024 ** 2;

/** The machine's load average over the last minute against its cores, for the "machine was loaded" note. */
export function loadNote(): string {
  const [one] = loadavg();
  const cores = availableParallelism();
  return `load average ${one!.toFixed(1)} on ${cores} cores${one! > cores * 0.75 ? ' (the machine was loaded: absolute figures are pessimistic, compare the rows of one run)' : ''}`;
}
