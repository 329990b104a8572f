// Runtime drift of one running VM (README "How drift is repaired"): where and how
// it runs compared with what its fleet says. Pure: cached objects in, findings out. Imbalance is a
// fleet-wide finding and lives in rebalance.ts.
import type { V1Node } from '@kubernetes/client-node';
import { placementViolations, type PlacementSpec, type PlacementViolationKind } from '../placement.ts';

export const DRIFT_KINDS = ['placement', 'pendingLiveUpdate', 'manualEdit', 'imbalance'] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

export interface Drift {
  kind: DriftKind;
  /** Placement: which rule the node breaks; others: the condition or classification behind it. */
  detail: string;
  message: string;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** KubeVirt sets these on a VMI whose live update is realised by the next live migration. */
export const PENDING_LIVE_UPDATE_CONDITIONS = ['HotVCPUChange', 'HotMemoryChange', 'MigrationRequired'] as const;

/**
 * Placement rules a migration can repair. A NotReady node is autohealing's business: a VMI on a
 * lost node cannot be migrated off it.
 */
const MIGRATION_REPAIRS: readonly PlacementViolationKind[] = ['DrainTaint', 'Unschedulable', 'Taint', 'NodeSelector', 'NodeAffinity'];

export interface DriftInput {
  /** The VM's own placement (spec.template.spec), which KubeVirt has patched onto the VMI. */
  placement: PlacementSpec;
  /** The node the VMI runs on; undefined when the cache has no such node. */
  node: V1Node | undefined;
  vmiConditions: readonly Condition[] | undefined;
  /** classifyChange reasons when a VM at the update revision differs from its desired spec. */
  manualEdit?: readonly string[];
}

/**
 * What is drifting on one VM whose VMI is running:
 * - placement: its node no longer satisfies the VM's nodeSelector, required node affinity or
 *   tolerations, is cordoned, or carries KubeVirt's drain taint (NotReady is left to autohealing);
 * - pendingLiveUpdate: the VMI carries HotVCPUChange, HotMemoryChange or MigrationRequired=True;
 * - manualEdit: the VM is at the update revision yet differs from its desired spec.
 * The most urgent finding comes first: a draining or cordoned node, then other placement rules.
 */
export function detectDrift(input: DriftInput): Drift[] {
  const found: Drift[] = [];
  if (input.node) {
    const violations = placementViolations(input.placement, input.node).filter((v) => MIGRATION_REPAIRS.includes(v.kind));
    violations.sort((a, b) => MIGRATION_REPAIRS.indexOf(a.kind) - MIGRATION_REPAIRS.indexOf(b.kind));
    if (violations.length > 0) found.push({ kind: 'placement', detail: violations[0]!.kind, message: violations.map((v) => v.message).join('; ') });
  }
  for (const type of PENDING_LIVE_UPDATE_CONDITIONS) {
    const c = input.vmiConditions?.find((x) => x.type === type);
    if (c?.status === 'True') found.push({ kind: 'pendingLiveUpdate', detail: type, message: `the VMI has ${type}${c.message ? ` (${c.message})` : ''}: a live migration brings it to the VM's spec` });
  }
  if (input.manualEdit && input.manualEdit.length > 0) {
    found.push({ kind: 'manualEdit', detail: 'ManualEdit', message: `edited by hand: ${input.manualEdit.join('; ')}` });
  }
  // One finding per kind: several pending conditions are one live update.
  return found.filter((d, i) => found.findIndex((o) => o.kind === d.kind) === i);
}
