// Which fleets have VMIs on each node, kept from VMI events, so a node event is mapped to its
// fleets by one lookup instead of a scan of every VMI; and a fingerprint of what placement reads
// of a node, so the frequent status-only updates (heartbeats, images, allocatable) enqueue nothing.
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import { ChangeFilter } from '../runtime/change-filter.ts';

export class FleetsByNode {
  /** node → fleet key → how many of its VMIs run there. */
  private readonly byNode = new Map<string, Map<string, number>>();
  /** VMI key → where it was counted. */
  private readonly placed = new Map<string, { node: string; fleet: string }>();

  observe(type: 'add' | 'update' | 'delete', vmi: V1VirtualMachineInstance, fleetOf: (vmi: V1VirtualMachineInstance) => string | undefined): void {
    const key = `${vmi.metadata?.namespace ?? ''}/${vmi.metadata?.name ?? ''}`;
    const node = vmi.status?.nodeName;
    const fleet = fleetOf(vmi);
    const old = this.placed.get(key);
    const next = type !== 'delete' && node && fleet ? { node, fleet } : undefined;
    if (old && next && old.node === next.node && old.fleet === next.fleet) return;
    if (old) {
      const fleets = this.byNode.get(old.node);
      const n = (fleets?.get(old.fleet) ?? 1) - 1;
      if (n > 0) fleets!.set(old.fleet, n);
      else fleets?.delete(old.fleet);
      if (fleets?.size === 0) this.byNode.delete(old.node);
      this.placed.delete(key);
    }
    if (next) {
      let fleets = this.byNode.get(next.node);
      if (!fleets) this.byNode.set(next.node, (fleets = new Map()));
      fleets.set(next.fleet, (fleets.get(next.fleet) ?? 0) + 1);
      this.placed.set(key, next);
    }
  }

  fleetsOn(node: string): string[] {
    return [...(this.byNode.get(node)?.keys() ?? [])];
  }

  /** Entries held (VMIs placed), bounded by the live VMIs. */
  get size(): number {
    return this.placed.size;
  }
}

/** What the fleet's placement and drift rules read of a node; other changes cannot matter. */
export function nodeFingerprint(node: V1Node): string {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? '';
  return JSON.stringify([node.metadata?.labels ?? {}, node.spec?.taints ?? [], node.spec?.unschedulable ?? false, ready, node.metadata?.deletionTimestamp ?? null]);
}

/** Remembers each node's fingerprint; says whether an event changed it (pruned on delete). */
export class NodeChanges extends ChangeFilter<V1Node> {
  constructor() {
    super(nodeFingerprint);
  }
}
