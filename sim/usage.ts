// What each node has committed to VMIs, kept incrementally from VMI events plus the placements
// the simulator has decided but not yet observed (kube-scheduler's "assume" cache), so a
// scheduling decision never double-books a node and never scans every VMI.
export interface Requests {
  cpuMillis: number;
  memoryBytes: number;
}

interface NodeEntry extends Requests {
  vmis: Set<string>;
}

export class Usage {
  private readonly observed = new Map<string, { nodes: string[]; requests: Requests }>();
  private readonly assumed = new Map<string, { node: string; requests: Requests }>();
  private readonly byNode = new Map<string, NodeEntry>();

  /** Records what an informer event shows a VMI holds: its node and, while migrating, the target. */
  observe(vmiKey: string, nodes: string[], requests: Requests): void {
    this.account(vmiKey, -1);
    const unique = [...new Set(nodes.filter(Boolean))];
    if (unique.length > 0) this.observed.set(vmiKey, { nodes: unique, requests });
    else this.observed.delete(vmiKey);
    const assumption = this.assumed.get(vmiKey);
    if (assumption && unique.includes(assumption.node)) this.assumed.delete(vmiKey);
    this.account(vmiKey, +1);
  }

  /** Books a node for a VMI the moment the simulator decides, before the write is observed. */
  assume(vmiKey: string, node: string, requests: Requests): void {
    this.account(vmiKey, -1);
    this.assumed.set(vmiKey, { node, requests });
    this.account(vmiKey, +1);
  }

  /** Drops an assumption that will not be observed (the write failed, the migration ended). */
  unassume(vmiKey: string): void {
    this.account(vmiKey, -1);
    this.assumed.delete(vmiKey);
    this.account(vmiKey, +1);
  }

  forget(vmiKey: string): void {
    this.account(vmiKey, -1);
    this.observed.delete(vmiKey);
    this.assumed.delete(vmiKey);
  }

  vmisOn(node: string): string[] {
    return [...(this.byNode.get(node)?.vmis ?? [])];
  }

  /** Committed requests per node, in the shape the scheduler takes: a live view, not a copy. */
  perNode(): Map<string, Requests> {
    return this.byNode;
  }

  private holdings(vmiKey: string): { node: string; requests: Requests }[] {
    const out = (this.observed.get(vmiKey)?.nodes ?? []).map((node) => ({ node, requests: this.observed.get(vmiKey)!.requests }));
    const a = this.assumed.get(vmiKey);
    if (a && !out.some((h) => h.node === a.node)) out.push(a);
    return out;
  }

  private account(vmiKey: string, sign: 1 | -1): void {
    for (const { node, requests } of this.holdings(vmiKey)) {
      const entry = this.byNode.get(node) ?? { cpuMillis: 0, memoryBytes: 0, vmis: new Set<string>() };
      entry.cpuMillis += sign * requests.cpuMillis;
      entry.memoryBytes += sign * requests.memoryBytes;
      if (sign > 0) entry.vmis.add(vmiKey);
      else entry.vmis.delete(vmiKey);
      if (entry.vmis.size === 0) this.byNode.delete(node);
      else this.byNode.set(node, entry);
    }
  }
}
