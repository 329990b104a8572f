// A simulator scoped to one test's namespace, with its own node pool, on the shared control plane.
import { KubeClient } from '../../controller/kube/client.ts';
import type { DeepPartial, SimConfig } from '../../sim/config.ts';
import { Simulator } from '../../sim/simulator.ts';
import { createNamespace, kubeConfig } from './cluster.ts';

export interface SimulatedCluster {
  namespace: string;
  sim: Simulator;
  client: KubeClient;
  /** Every request the simulator has sent, in order. */
  simRequests: { method: string; path: string }[];
  stop: () => Promise<void>;
}

export async function simulatedCluster(prefix: string, config: DeepPartial<SimConfig> = {}): Promise<SimulatedCluster> {
  const ns = await createNamespace(prefix);
  const simRequests: { method: string; path: string }[] = [];
  const sim = new Simulator(kubeConfig(), {
    onRequest: (method, path) => void simRequests.push({ method, path }),
    config: { ...config, namespaces: [ns.name], nodes: { prefix: ns.name, ...config.nodes } },
    log: { info: () => undefined, error: (m) => console.error(`sim: ${m}`) },
  });
  await sim.start();
  const client = new KubeClient(kubeConfig(), { qps: 0 });
  return {
    namespace: ns.name,
    sim,
    client,
    simRequests,
    stop: async () => {
      await sim.stop({ deleteNodes: true });
      await ns.remove();
    },
  };
}
