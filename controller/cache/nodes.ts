// What the shared node cache keeps of each node: what placement, drift and node-loss rules read
// (labels, taints, cordon, the Ready condition), not the images, addresses, capacity or the
// system info a kubelet reports, which make up most of a Node object.
import type { KubernetesObject, V1Node } from '@kubernetes/client-node';
import { RESOURCES } from '../kube/resources.ts';
import type { ManagerContext } from '../runtime/manager.ts';
import { cachedMetadata } from './metadata.ts';

type Node = V1Node & KubernetesObject;

/**
 * Shrinks a cached node to its identity and labels, spec.taints and spec.unschedulable, and the
 * Ready condition without its heartbeat (its status, reason and message are reported, and its
 * lastTransitionTime says since when a node is lost).
 */
export function cachedNode(node: Node): void {
  node.metadata = cachedMetadata(node.metadata);
  const spec = node.spec;
  node.spec = {
    ...(spec?.taints ? { taints: spec.taints } : {}),
    ...(spec?.unschedulable !== undefined ? { unschedulable: spec.unschedulable } : {}),
  };
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  if (!ready) {
    delete node.status;
    return;
  }
  const { lastHeartbeatTime: _heartbeat, ...kept } = ready;
  node.status = { conditions: [kept as typeof ready] };
}

/** The node informer of the process: every node, shrunk by cachedNode. */
export const nodeInformer = (ctx: ManagerContext) => ctx.informer<Node>(RESOURCES.node, { transform: cachedNode });
