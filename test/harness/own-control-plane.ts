// A control plane of a test file's (or a benchmark's) own: kube-apiserver and etcd started for it
// alone (ControlPlane.start), the CRDs installed, the KubeVirt/CDI simulator in this process on
// nodes of its own, and in each namespace the fixture GoldenImage `fedora` with its pull Secret
// and CA. Fault tests kill and restart these processes, or run a controller over every namespace,
// so the other test files, which share the run's control plane, never see it.
import type { V1VirtualMachine, V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { VMFleetStatus } from '../../controller/api/generated/types.ts';
import { FLEET_LABEL } from '../../controller/core/fleet/names.ts';
import { KubeClient } from '../../controller/kube/client.ts';
import { RESOURCES } from '../../controller/kube/resources.ts';
import { ensureAssets } from '../../controller/local/assets.ts';
import { ControlPlane } from '../../controller/local/control-plane.ts';
import { installCrds } from '../../controller/local/install-crds.ts';
import type { DeepPartial, SimConfig } from '../../sim/config.ts';
import { Simulator } from '../../sim/simulator.ts';
import { createRegistryObjects, goldenImage } from '../fixtures/fleets.ts';
import type { ControllerProcess } from './controller-process.ts';
import { CRD_DIRS } from './paths.ts';
import { waitFor } from './wait.ts';

export interface OwnControlPlane {
  plane: ControlPlane;
  client: KubeClient;
  sim: Simulator;
  /** Simulated node `<first namespace>-<i>`. */
  node(i: number): string;
  fleetStatus(namespace: string, name: string): Promise<VMFleetStatus | undefined>;
  fleetVMs(namespace: string, name: string): Promise<V1VirtualMachine[]>;
  /** The fleet's VMIs (named `<fleet>-<index>`) not being deleted. */
  fleetVMIs(namespace: string, name: string): Promise<V1VirtualMachineInstance[]>;
  migrations(namespace: string): Promise<V1VirtualMachineInstanceMigration[]>;
  stop(): Promise<void>;
}

export interface OwnControlPlaneOptions {
  namespaces: string[];
  nodes: number;
  /** Simulator settings beyond the namespaces and nodes (default speed 20). */
  sim?: DeepPartial<SimConfig>;
}

export async function startOwnControlPlane(o: OwnControlPlaneOptions): Promise<OwnControlPlane> {
  const plane = await ControlPlane.start({ assets: await ensureAssets() });
  let sim: Simulator | undefined;
  const stop = async () => {
    await sim?.stop();
    await plane.stop();
  };
  try {
    await installCrds(plane.kubeConfig(), CRD_DIRS);
    // Requests time out well within the tests' waits, so a request caught by a restart fails and is polled again.
    const client = new KubeClient(plane.kubeConfig(), { qps: 0, timeoutMs: 5_000 });
    const prefix = o.namespaces[0]!;
    sim = new Simulator(plane.kubeConfig(), {
      config: { speed: 20, ...o.sim, namespaces: o.namespaces, nodes: { ...o.sim?.nodes, prefix, count: o.nodes } },
      log: { info: () => undefined, error: () => undefined },
    });
    await sim.start();
    for (const namespace of o.namespaces) {
      await client.create(RESOURCES.namespace, { metadata: { name: namespace } });
      await createRegistryObjects(client, namespace);
      await client.create(RESOURCES.goldenImage, goldenImage(namespace, 'fedora'));
    }
    const vmis = async (namespace: string, name: string) => (await client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace })).items
      .filter((v) => new RegExp(`^${name}-\\d+$`).test(v.metadata!.name!) && !v.metadata?.deletionTimestamp);
    return {
      plane,
      client,
      sim,
      node: (i) => `${prefix}-${i}`,
      fleetStatus: async (namespace, name) => (await client.get<{ metadata?: { name?: string }; status?: VMFleetStatus }>(RESOURCES.vmFleet, { namespace, name }))?.status,
      fleetVMs: async (namespace, name) => (await client.list<V1VirtualMachine>(RESOURCES.vm, { namespace, labelSelector: `${FLEET_LABEL}=${name}` })).items,
      fleetVMIs: vmis,
      migrations: async (namespace) => (await client.list<V1VirtualMachineInstanceMigration>(RESOURCES.vmim, { namespace })).items,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The controller's last log lines, one JSON line each, to say where it was when a wait failed. */
export function lastLines(controller: ControllerProcess, count = 40): string {
  return controller.lines.slice(-count).map((l) => JSON.stringify(l)).join('\n');
}

/**
 * Polls `probe` (errors count as not yet: the API server may be down) until it holds; on timeout
 * the error carries the controller's last log lines and what `describe` says of the cluster.
 */
export async function settle(what: string, probe: () => Promise<boolean>, timeoutMs: number, controller: ControllerProcess, describe?: () => Promise<string>): Promise<void> {
  try {
    await waitFor(what, () => probe().catch(() => false), timeoutMs, 250);
  } catch (err) {
    const state = describe ? await describe().catch((e: Error) => `(could not describe: ${e.message})`) : '';
    throw new Error(`${(err as Error).message}\n${state}\ncontroller's last lines:\n${lastLines(controller)}`);
  }
}
