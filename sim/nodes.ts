// Simulated Nodes: created with zone/rack labels, allocatable CPU and memory and a Ready
// condition, and changed the ways an operator or a failure changes real nodes.
import type { V1Node, V1Taint } from '@kubernetes/client-node';
import type { KubeClient } from '../controller/kube/client.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import type { NodePoolConfig } from './config.ts';

/** Label every simulated node carries, naming its pool, so several simulators can share a cluster. */
export const POOL_LABEL = 'sim.virtfleet.io/pool';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const RACK_LABEL = 'virtfleet.io/rack';

const LIFECYCLE_TAINT_KEYS = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'];

export function nodeName(pool: NodePoolConfig, i: number): string {
  return `${pool.prefix}-${i}`;
}

export function desiredNode(pool: NodePoolConfig, i: number, now: string): V1Node {
  const zone = pool.zones[i % pool.zones.length] ?? 'zone-a';
  const rack = `${zone}-rack-${Math.floor(i / pool.zones.length) % pool.racksPerZone}`;
  const name = nodeName(pool, i);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        [ZONE_LABEL]: zone,
        [RACK_LABEL]: rack,
        // virt-handler labels the nodes it runs on as schedulable for VMIs.
        'kubevirt.io/schedulable': 'true',
        [POOL_LABEL]: pool.prefix,
        ...pool.labels,
      },
    },
    spec: {},
    status: {
      capacity: { cpu: pool.cpu, memory: pool.memory, pods: '110', 'devices.kubevirt.io/kvm': '1k' },
      allocatable: { cpu: pool.cpu, memory: pool.memory, pods: '110', 'devices.kubevirt.io/kvm': '1k' },
      conditions: [readyCondition(true, now)],
      nodeInfo: {
        architecture: 'amd64',
        bootID: '',
        containerRuntimeVersion: 'sim://1.0',
        kernelVersion: '6.1.0-sim',
        kubeProxyVersion: '',
        kubeletVersion: 'v1.35.4',
        machineID: name,
        operatingSystem: 'linux',
        osImage: 'VirtFleet simulated node',
        systemUUID: name,
      },
    },
  };
}

function readyCondition(ready: boolean, now: string) {
  return ready
    ? { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: now as unknown as Date, lastTransitionTime: now as unknown as Date }
    : { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastHeartbeatTime: now as unknown as Date, lastTransitionTime: now as unknown as Date };
}

/** Operations on simulated (or any) nodes, as `kubectl cordon/taint/label` and a failure would do. */
export class NodeOps {
  private readonly client: KubeClient;

  constructor(client: KubeClient) {
    this.client = client;
  }

  /** Creates the pool's nodes that do not exist yet, `concurrency` at a time. */
  async createPool(pool: NodePoolConfig, concurrency = 16): Promise<void> {
    const now = new Date().toISOString();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < pool.count) {
        const node = desiredNode(pool, next++, now);
        const existing = await this.client.get<V1Node>(RESOURCES.node, { name: node.metadata!.name! });
        if (!existing) await this.client.create(RESOURCES.node, node);
        // The API server drops status on create; the kubelet reports it afterwards.
        await this.client.mergePatch(RESOURCES.node, { name: node.metadata!.name! }, { status: node.status }, 'status');
        // The TaintNodesByCondition admission plugin taints a new node not-ready; the node
        // lifecycle controller lifts the taint once the node reports Ready.
        await this.setLifecycleTaints(node.metadata!.name!, true);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, pool.count) }, worker));
  }

  async deletePool(pool: NodePoolConfig): Promise<void> {
    const nodes = await this.client.list<V1Node>(RESOURCES.node, { labelSelector: `${POOL_LABEL}=${pool.prefix}` });
    await Promise.all(nodes.items.map((n) => this.client.delete(RESOURCES.node, { name: n.metadata!.name! })));
  }

  cordon(name: string, unschedulable = true): Promise<V1Node> {
    return this.client.mergePatch(RESOURCES.node, { name }, { spec: { unschedulable: unschedulable || null } });
  }

  /** Adds or replaces (by key and effect) a taint. */
  async taint(name: string, taint: V1Taint): Promise<V1Node> {
    const node = await this.mustGet(name);
    const taints = (node.spec?.taints ?? []).filter((t) => !(t.key === taint.key && t.effect === taint.effect));
    return this.client.mergePatch(RESOURCES.node, { name }, { spec: { taints: [...taints, taint] } });
  }

  async untaint(name: string, key: string): Promise<V1Node> {
    const node = await this.mustGet(name);
    return this.client.mergePatch(RESOURCES.node, { name }, { spec: { taints: (node.spec?.taints ?? []).filter((t) => t.key !== key) } });
  }

  /** Sets labels; a null value removes the label. */
  label(name: string, labels: Record<string, string | null>): Promise<V1Node> {
    return this.client.mergePatch(RESOURCES.node, { name }, { metadata: { labels } });
  }

  /** The node stops reporting: its Ready condition turns Unknown, as the node lifecycle controller marks it. */
  fail(name: string): Promise<V1Node> {
    return this.setReady(name, false);
  }

  recover(name: string): Promise<V1Node> {
    return this.setReady(name, true);
  }

  private async setReady(name: string, ready: boolean): Promise<V1Node> {
    const node = await this.mustGet(name);
    const others = (node.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
    await this.client.mergePatch(RESOURCES.node, { name }, { status: { conditions: [...others, readyCondition(ready, new Date().toISOString())] } }, 'status');
    return this.setLifecycleTaints(name, ready);
  }

  /**
   * The node lifecycle controller's taints: a node whose status is Unknown gets
   * node.kubernetes.io/unreachable (NoSchedule and NoExecute); a Ready node has none of them.
   */
  private async setLifecycleTaints(name: string, ready: boolean): Promise<V1Node> {
    const node = await this.mustGet(name);
    const kept = (node.spec?.taints ?? []).filter((t) => !LIFECYCLE_TAINT_KEYS.includes(t.key));
    const added: V1Taint[] = ready ? [] : [
      { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: new Date().toISOString() as unknown as Date },
    ];
    return this.client.mergePatch(RESOURCES.node, { name }, { spec: { taints: [...kept, ...added] } });
  }

  private async mustGet(name: string): Promise<V1Node> {
    const node = await this.client.get<V1Node>(RESOURCES.node, { name });
    if (!node) throw new Error(`node ${name} not found`);
    return node;
  }
}
