// Deterministic names, indexes and labels of a fleet's VMs (README "Safety invariants" 4 and 5).
// Pure: plain data in, plain data out.

/** Label on every child: the name of the owning VMFleet. */
export const FLEET_LABEL = 'virtfleet.io/fleet';
/** Label on every child VM: the revision (template hash) it was stamped from. */
export const REVISION_LABEL = 'virtfleet.io/revision';
/** Label on every child VM: its index, the `<index>` of `<fleet>-<index>`. */
export const INDEX_LABEL = 'virtfleet.io/index';
/**
 * On a DataVolume a fleet VM boots its image from (KubeVirt copies dataVolumeTemplate labels):
 * the image volume's name. The fleet finds the disks of earlier versions by it and removes them
 * once no VMI uses them, since KubeVirt keeps a DataVolume whose template left the VM.
 */
export const IMAGE_DISK_LABEL = 'virtfleet.io/image-disk';

/** The VM name for an index: `<fleet>-<index>` (KubeVirt's VirtualMachinePool naming). */
export function vmName(fleet: string, index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`invalid VM index ${index}`);
  return `${fleet}-${index}`;
}

/**
 * The index of a fleet's VM name, or undefined when `name` is not `<fleet>-<decimal>` (no sign,
 * no leading zeros, so each index has exactly one name and vice versa).
 */
export function parseVmIndex(fleet: string, name: string): number | undefined {
  const prefix = `${fleet}-`;
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  if (!/^(0|[1-9]\d{0,14})$/.test(rest)) return undefined;
  return Number(rest);
}

/**
 * The `count` lowest non-negative indexes not in `taken`, ascending (lowest free index first, as
 * KubeVirt's pool does). Indexes of VMs still being deleted must be passed as taken: their names
 * are not free until the API server has removed them.
 */
export function lowestFreeIndexes(taken: Iterable<number>, count: number): number[] {
  const used = new Set(taken);
  const free: number[] = [];
  for (let i = 0; free.length < count; i++) if (!used.has(i)) free.push(i);
  return free;
}

/** How far past the names a fleet needs it looks for names held by others. */
const MAX_HELD_SCAN = 1000;

/**
 * The indexes among a fleet's lowest names that objects it does not own hold (invariant 4):
 * scanning upward from 0 until `needed` indexes are free or the fleet's own. New VMs skip them, so
 * such an object is never adopted, patched or deleted.
 */
export function indexesHeldByOthers(fleet: string, needed: number, heldByOther: (name: string) => boolean): number[] {
  const held: number[] = [];
  for (let i = 0, usable = 0; usable < needed && held.length < MAX_HELD_SCAN; i++) {
    if (heldByOther(vmName(fleet, i))) held.push(i);
    else usable++;
  }
  return held;
}

/** The labels VirtFleet sets on a child VM (on top of the template's, which they override). */
export function childLabels(fleet: string, index: number, revision: string): Record<string, string> {
  return { [FLEET_LABEL]: fleet, [REVISION_LABEL]: revision, [INDEX_LABEL]: String(index) };
}

/** Argo CD's default tracking label (application.instanceLabelKey). */
export const ARGOCD_INSTANCE_LABEL = 'app.kubernetes.io/instance';
/** Prefix of Argo CD's annotations and labels (tracking-id, sync options, hooks, …). */
export const ARGOCD_PREFIX = 'argocd.argoproj.io/';

/** True for a label or annotation key Argo CD uses to track the resources it manages. */
export function isArgoCdTrackingKey(key: string): boolean {
  return key === ARGOCD_INSTANCE_LABEL || key.startsWith(ARGOCD_PREFIX);
}

/**
 * A copy of labels or annotations without Argo CD's tracking keys, so children never look like
 * resources of the user's Argo CD Application (invariant 4: Argo CD would otherwise prune them or
 * report them out of sync). Undefined stays undefined.
 */
export function withoutArgoCdTracking(map: Record<string, string> | undefined): Record<string, string> | undefined {
  if (map === undefined) return undefined;
  return Object.fromEntries(Object.entries(map).filter(([k]) => !isArgoCdTrackingKey(k)));
}
