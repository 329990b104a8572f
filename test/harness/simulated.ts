// A simulator scoped to one test's namespace, with its own node pool, on the shared control plane.
import { KubeClient } from '../../controller/kube/client.ts';
import type { DeepPartial, SimConfig } from '../../sim/config.ts';
import { Simulator } from '../../sim/simulator.ts';
import { createNamespace, kubeConfig } from './cluster.ts';

export interface SimulatedCluster {
  namespace: string;
  sim: Simulator;
  client: KubeClient;
  stop: () => Promise<void>;
}

export async function simulatedCluster(prefix: string, config: DeepPartial<SimConfig> = {}): Promise<SimulatedCluster> {
  const ns = await createNamespace(prefix);
  const sim = new Simulator(kubeConfig(), {
    config: { ...config, namespaces: [ns.name], nodes: { prefix: ns.name, ...config.nodes } },
    log: { info: () => undefined, error: (m) => console.error(`sim: ${m}`) },
  });
  await sim.start();
  const client = new KubeClient(kubeConfig(), { qps: 0 });
  return {
    namespace: ns.name,
    sim,
    client,
    stop: async () => {
      await sim.stop({ deleteNodes: true });
      await ns.remove();
    },
  };
}
