// Change classification between a VM as it is and its desired state (README "How a fleet is
// reconciled", step 2). Mirrors KubeVirt's LiveUpdate rules (pkg/virt-controller/watch/vm/vm.go
// syncRestartRequired, handleCPUChangeRequest, handleAffinityChangeRequest,
// handleTolerationsChangeRequest; pkg/liveupdate/memory), as sim/rules/live-update.ts does for
// the simulator. Pure.
import type { V1VirtualMachineInstanceSpec, V1VirtualMachineSpec } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { DEFAULT_MAX_HOTPLUG_RATIO, defaultedPathsUnsetIn, PLACEMENT_FIELDS } from '../kubevirt-defaults.ts';
import { tryParseQuantity } from '../quantity.ts';
import { semanticEqual, withoutPaths } from '../semantic.ts';

/** Least to most disruptive; a classification is the most disruptive of its differences. */
export const CHANGE_KINDS = ['none', 'metadata', 'liveUpdatable', 'restartRequired', 'recreate'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** The parts of a VirtualMachine that classification reads. */
export interface VMShape {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: V1VirtualMachineSpec;
}

export interface Classification {
  kind: ChangeKind;
  /** One human-readable line per difference found, most disruptive first. */
  reasons: string[];
}

export interface ClassifyOptions {
  /** Whether the VM's VMI is LiveMigratable; memory hotplug needs it. Default true. */
  liveMigratable?: boolean;
  /**
   * The volume a GoldenImage fills (spec.image.volume). When it is a DataVolume image, a new
   * version only renames and re-sources that volume's dataVolumeTemplate: a restart onto the new
   * disk, not a recreate that would take the VM's other disks with it.
   */
  imageVolume?: string;
}

/** The dataVolumeTemplates other than the one backing `imageVolume`. */
function templatesBesideImage(spec: VMShape['spec'], imageVolume: string | undefined): unknown {
  const backing = imageVolume === undefined ? undefined : spec.template?.spec?.volumes?.find((v) => v.name === imageVolume)?.dataVolume?.name;
  return (spec.dataVolumeTemplates ?? []).filter((t) => backing === undefined || t.metadata?.name !== backing);
}

/** Desired labels/annotations missing or different on the current VM (extra keys are others'). */
function metadataDiffers(current: Record<string, string> | undefined, desired: Record<string, string> | undefined): boolean {
  return Object.entries(desired ?? {}).some(([k, v]) => current?.[k] !== v);
}

type VmiSpec = V1VirtualMachineInstanceSpec;

/** The live-updatable fields of a VMI spec, judged on their own. */
const LIVE_UPDATABLE_PATHS: string[][] = [...PLACEMENT_FIELDS.map((f) => [f]), ['domain', 'cpu', 'sockets'], ['domain', 'memory', 'guest']];

/** The restart-relevant rest of a VMI spec: without live-updatable fields and (for the current one) unset defaults. */
function restOf(spec: VmiSpec | undefined, desired: VmiSpec | undefined, isCurrent: boolean): unknown {
  return withoutPaths(spec ?? {}, isCurrent ? [...LIVE_UPDATABLE_PATHS, ...defaultedPathsUnsetIn(desired)] : LIVE_UPDATABLE_PATHS);
}

/**
 * Classifies the difference between `current` (a VM as it is) and `desired` (desiredVM output):
 * - `recreate`: spec.dataVolumeTemplates differ — the VM must be deleted and created again —
 *   unless only the template backing the image volume differs (`restartRequired`: KubeVirt
 *   creates the new image disk, the restart boots from it, the old one is removed afterwards);
 * - `restartRequired`: anything else in spec.template.spec (image, devices, firmware, …), CPU
 *   sockets reduced or raised beyond maxSockets (the current VM's, default 4 × its sockets) or
 *   with networkInterfaceMultiqueue, memory.guest reduced, raised beyond maxGuest (default 4 ×)
 *   or on a VMI that is not live-migratable, or newly set; instancetype, preference or
 *   updateVolumesStrategy changed;
 * - `liveUpdatable`: nodeSelector, affinity, tolerations; CPU sockets / memory.guest raised
 *   within their maxima; runStrategy (KubeVirt acts on it when the spec is applied);
 * - `metadata`: a desired label or annotation of the VM is missing or different, or the VMI
 *   template's metadata differs (KubeVirt does not restart for it);
 * - `none`: nothing to do.
 * Fields KubeVirt defaults (kubevirt-defaults.ts) are ignored when the desired template leaves them
 * unset. Labels and annotations others put on the VM are ignored. Hotplug volumes, interface
 * hotplug and updateVolumesStrategy: Migration are not modelled: they count as restartRequired.
 */
export function classifyChange(current: VMShape, desired: VMShape, options: ClassifyOptions = {}): Classification {
  const liveMigratable = options.liveMigratable ?? true;
  const found: { kind: ChangeKind; reason: string }[] = [];
  const add = (kind: ChangeKind, reason: string) => found.push({ kind, reason });
  const cs = current.spec;
  const ds = desired.spec;

  if (!semanticEqual(cs.dataVolumeTemplates, ds.dataVolumeTemplates)) {
    if (semanticEqual(templatesBesideImage(cs, options.imageVolume), templatesBesideImage(ds, options.imageVolume))) add('restartRequired', 'the image disk changed (a new image version)');
    else add('recreate', 'spec.dataVolumeTemplates changed');
  }
  for (const f of ['instancetype', 'preference', 'updateVolumesStrategy'] as const) {
    if (!semanticEqual(cs[f], ds[f])) add('restartRequired', `spec.${f} changed`);
  }
  if ((cs.runStrategy ?? 'Always') !== (ds.runStrategy ?? 'Always')) add('liveUpdatable', `spec.runStrategy changed to ${ds.runStrategy ?? 'Always'}`);

  const cm = current.metadata;
  const dm = desired.metadata;
  if (metadataDiffers(cm?.labels, dm?.labels)) add('metadata', 'labels changed');
  if (metadataDiffers(cm?.annotations, dm?.annotations)) add('metadata', 'annotations changed');
  if (!semanticEqual(cs.template?.metadata, ds.template?.metadata)) add('metadata', 'spec.template.metadata changed');

  const cv = cs.template?.spec;
  const dv = ds.template?.spec;
  for (const f of PLACEMENT_FIELDS) if (!semanticEqual(cv?.[f], dv?.[f])) add('liveUpdatable', `spec.template.spec.${f} changed`);

  const curSockets = cv?.domain?.cpu?.sockets || 1;
  const desSockets = dv?.domain?.cpu?.sockets || 1;
  if (curSockets !== desSockets) {
    const maxSockets = cv?.domain?.cpu?.maxSockets || curSockets * DEFAULT_MAX_HOTPLUG_RATIO;
    if (desSockets < curSockets) add('restartRequired', `CPU sockets reduced from ${curSockets} to ${desSockets}`);
    else if (desSockets > maxSockets) add('restartRequired', `CPU sockets ${desSockets} above maxSockets ${maxSockets}`);
    else if (dv?.domain?.devices?.networkInterfaceMultiqueue) add('restartRequired', 'CPU sockets changed with networkInterfaceMultiqueue');
    else add('liveUpdatable', `CPU sockets raised from ${curSockets} to ${desSockets}`);
  }

  const curGuest = cv?.domain?.memory?.guest;
  const desGuest = dv?.domain?.memory?.guest;
  if (!semanticEqual(curGuest, desGuest)) {
    const cur = curGuest === undefined ? undefined : tryParseQuantity(curGuest);
    const des = desGuest === undefined ? undefined : tryParseQuantity(desGuest);
    const curMax = cv?.domain?.memory?.maxGuest;
    const max = curMax !== undefined ? tryParseQuantity(curMax) : cur === undefined ? undefined : cur * DEFAULT_MAX_HOTPLUG_RATIO;
    if (cur === undefined || des === undefined || max === undefined) add('restartRequired', 'memory.guest set, unset or unparsable');
    else if (des === cur) {
      // Same quantity, different spelling ("1Gi" vs "1024Mi"): no change.
    } else if (des < cur) add('restartRequired', `memory.guest reduced from ${curGuest} to ${desGuest}`);
    else if (des > max) add('restartRequired', `memory.guest ${desGuest} above maxGuest`);
    else if (!liveMigratable) add('restartRequired', 'memory.guest raised on a VMI that is not live-migratable');
    else add('liveUpdatable', `memory.guest raised from ${curGuest} to ${desGuest}`);
  }

  if (!semanticEqual(restOf(cv, dv, true), restOf(dv, dv, false))) add('restartRequired', 'a non-live-updatable field of spec.template.spec changed');

  const rank = (k: ChangeKind) => CHANGE_KINDS.indexOf(k);
  found.sort((a, b) => rank(b.kind) - rank(a.kind));
  return { kind: found[0]?.kind ?? 'none', reasons: found.map((f) => f.reason) };
}
