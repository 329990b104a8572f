// The simulator's kube-scheduler for virt-launcher pods: Kubernetes' default filters (in the
// default plugin order) and a deterministic least-allocated pick.
import type { V1Node } from '@kubernetes/client-node';
import type { V1VirtualMachineInstanceSpec } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { isNodeReady, isUnschedulableFor, matchesNodeSelector, matchesRequiredNodeAffinity, untoleratedTaints } from '../../controller/core/placement.ts';
import { parseQuantity } from '../../controller/core/quantity.ts';
import type { ResourceRequests } from './resources.ts';

export interface ScheduleInput {
  /** The VMI's placement fields (nodeSelector, affinity, tolerations). */
  spec: Pick<V1VirtualMachineInstanceSpec, 'nodeSelector' | 'affinity' | 'tolerations'>;
  requests: ResourceRequests;
  nodes: V1Node[];
  /** What is already committed on each node, by node name. */
  usage: Map<string, ResourceRequests>;
  /** Nodes the pod must avoid, e.g. a migration's source node. */
  exclude?: string[];
  /** A migration's spec.addedNodeSelector. */
  addedNodeSelector?: Record<string, string>;
}

export type ScheduleResult = { node: string } | { unschedulable: string };

/**
 * KubeVirt: pkg/virt-controller/services/template.go — a migration's addedNodeSelector is added to
 * the target pod's nodeSelector without overriding the VMI's own keys (it can only narrow).
 */
export function effectiveNodeSelector(nodeSelector: Record<string, string> | undefined, added: Record<string, string> | undefined): Record<string, string> {
  return { ...(added ?? {}), ...(nodeSelector ?? {}) };
}

/** Kubernetes: node.status.allocatable minus what is committed, for CPU and memory. */
export function freeResources(node: V1Node, usage: Map<string, ResourceRequests>): ResourceRequests {
  const allocatable = node.status?.allocatable ?? {};
  const used = usage.get(node.metadata?.name ?? '') ?? { cpuMillis: 0, memoryBytes: 0 };
  const cpuMillis = allocatable.cpu === undefined ? 0 : Math.floor(parseQuantity(allocatable.cpu) * 1000 + 1e-9);
  const memoryBytes = allocatable.memory === undefined ? 0 : Math.floor(parseQuantity(allocatable.memory) + 1e-9);
  return { cpuMillis: cpuMillis - used.cpuMillis, memoryBytes: memoryBytes - used.memoryBytes };
}

/**
 * Kubernetes scheduler: why `node` is filtered out, as the filter plugins word it, or [] when the
 * pod fits. Like the scheduler, it stops at the first failing plugin (NodeUnschedulable,
 * TaintToleration, NodeAffinity, NodeResourcesFit, InterPodAffinity); NodeResourcesFit reports
 * every insufficient resource. A not-Ready node fails TaintToleration on the
 * node.kubernetes.io/not-ready taint the node lifecycle controller puts on it. KubeVirt keeps a
 * migration target off the source node with pod anti-affinity, so an excluded node fails
 * InterPodAffinity.
 */
export function filterReasons(input: ScheduleInput, node: V1Node): string[] {
  const { spec, requests } = input;
  const name = node.metadata?.name ?? '';
  if (isUnschedulableFor(spec.tolerations, node)) return ['node(s) were unschedulable'];
  if (!isNodeReady(node)) return ['node(s) had untolerated taint {node.kubernetes.io/not-ready: }'];
  const [taint] = untoleratedTaints(spec.tolerations, node);
  if (taint) return [`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`];
  if (!matchesNodeSelector(effectiveNodeSelector(spec.nodeSelector, input.addedNodeSelector), node) || !matchesRequiredNodeAffinity(spec.affinity, node)) {
    return ["node(s) didn't match Pod's node affinity/selector"];
  }
  const free = freeResources(node, input.usage);
  const insufficient: string[] = [];
  if (requests.cpuMillis > free.cpuMillis) insufficient.push('Insufficient cpu');
  if (requests.memoryBytes > free.memoryBytes) insufficient.push('Insufficient memory');
  if (insufficient.length > 0) return insufficient;
  if (input.exclude?.includes(name)) return ["node(s) didn't match pod anti-affinity rules"];
  return [];
}

/**
 * Kubernetes: FitError.Error() — "0/N nodes are available: " and the per-reason node counts,
 * sorted as strings and joined with ", ", ending in "."; with no nodes at all, ErrNoNodesAvailable.
 */
export function unschedulableMessage(nodeCount: number, reasonsByNode: string[][]): string {
  if (nodeCount === 0) return 'no nodes available to schedule pods';
  const histogram = new Map<string, number>();
  for (const reasons of reasonsByNode) for (const r of reasons) histogram.set(r, (histogram.get(r) ?? 0) + 1);
  const parts = [...histogram].map(([reason, count]) => `${count} ${reason}`).sort();
  return `0/${nodeCount} nodes are available: ${parts.join(', ')}.`;
}

/**
 * Picks a node for a virt-launcher pod: filters as the Kubernetes scheduler does
 * (see filterReasons), then scores least-allocated by the fraction of allocatable memory left
 * free after placing the pod; ties go to the lexically smallest node name, so the choice is
 * deterministic.
 */
export function chooseNode(input: ScheduleInput): ScheduleResult {
  const candidates: { name: string; freeFraction: number }[] = [];
  const rejected: string[][] = [];
  for (const node of input.nodes) {
    const reasons = filterReasons(input, node);
    if (reasons.length > 0) {
      rejected.push(reasons);
      continue;
    }
    const allocatable = parseQuantity(node.status?.allocatable?.memory ?? 0);
    const freeAfter = freeResources(node, input.usage).memoryBytes - input.requests.memoryBytes;
    candidates.push({ name: node.metadata?.name ?? '', freeFraction: allocatable > 0 ? freeAfter / allocatable : 0 });
  }
  if (candidates.length === 0) return { unschedulable: unschedulableMessage(input.nodes.length, rejected) };
  candidates.sort((a, b) => b.freeFraction - a.freeFraction || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { node: candidates[0]!.name };
}
