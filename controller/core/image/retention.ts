// Which versions' data retention deletes (README "Safety invariants" 3: a version a channel
// points at or a VM uses is never deleted). Pure: the shell plans from its caches, then lists
// VMs and DataVolumes once more right before deleting and deletes only what confirmDeletion
// still allows, so a use that appeared since the plan is never lost.
//
// Rules:
// - Only DataVolume storage has data to delete; ContainerDisk versions are never deleted here.
// - A version is protected while a channel points at it, a VM uses it, an unfinished clone
//   reads its PVC, or spec.versions lists it.
// - Unprotected Ready/Deprecated/Obsolete versions: the newest `keepUnused` of them (by
//   discoveredAt) are kept, the older ones deleted.
// - Failed versions (a DataVolume holding a failed import, CDI's conditions and the importer's
//   message): the newest failure is kept for debugging, older unprotected ones are deleted; they
//   do not count towards keepUnused, which is about versions VMs could boot.
// - Discovered and Importing versions are never deleted (the import is under way); Deleted
//   versions have nothing left and appear in neither list.
import { isAvailable, type ImageSpec, type RecordedChannel, type RecordedVersion } from './types.ts';

export type KeepReason = 'Channel' | 'InUse' | 'CloneReading' | 'Pinned' | 'WithinKeepUnused' | 'LatestFailure' | 'NotMaterialised';

/** What protects versions from deletion; the plan takes it from caches, confirmDeletion from live lists. */
export interface VersionUse {
  channels: readonly RecordedChannel[];
  /** spec.versions[].name */
  pinned: readonly string[];
  /** VMs per version (countUsage). */
  used: ReadonlyMap<string, number>;
  /** Versions whose PVC an unfinished clone reads (clonesReading). */
  clonesReading: ReadonlySet<string>;
}

export interface RetentionInput extends VersionUse {
  versions: readonly RecordedVersion[];
  keepUnused: number;
  storage: ImageSpec['storage'];
}

export interface RetentionPlan {
  /** Versions whose DataVolume to delete, oldest first. */
  delete: string[];
  keep: { version: string; reasons: KeepReason[] }[];
}

/** Why `version` must stay whatever retention says, by `use`; empty when nothing protects it. */
export function protections(version: string, use: VersionUse): KeepReason[] {
  const reasons: KeepReason[] = [];
  if (use.channels.some((c) => c.version === version)) reasons.push('Channel');
  if ((use.used.get(version) ?? 0) > 0) reasons.push('InUse');
  if (use.clonesReading.has(version)) reasons.push('CloneReading');
  if (use.pinned.includes(version)) reasons.push('Pinned');
  return reasons;
}

/** Versions newest first: by discoveredAt, then by position in status (later is newer); no time counts as oldest. */
function newestFirst(versions: readonly RecordedVersion[]): RecordedVersion[] {
  const time = (v: RecordedVersion): number => {
    const t = v.discoveredAt !== undefined ? Date.parse(v.discoveredAt) : NaN;
    return Number.isNaN(t) ? -Infinity : t;
  };
  return versions
    .map((v, index) => ({ v, index, t: time(v) }))
    .sort((a, b) => (b.t === a.t ? b.index - a.index : b.t > a.t ? 1 : -1))
    .map((e) => e.v);
}

export function retentionPlan(input: RetentionInput): RetentionPlan {
  const keepUnused = Math.max(0, Math.floor(input.keepUnused));
  const materialised = input.storage?.type === 'DataVolume';
  const keep: RetentionPlan['keep'] = [];
  const doomed: string[] = [];
  let unusedKept = 0;
  let failureKept = false;
  for (const v of newestFirst(input.versions)) {
    if (v.phase === 'Deleted') continue;
    const reasons = protections(v.name, input);
    const latestFailure = v.phase === 'Failed' && !failureKept;
    if (v.phase === 'Failed') failureKept = true;
    if (!materialised || !(isAvailable(v) || v.phase === 'Failed')) {
      keep.push({ version: v.name, reasons: [...reasons, 'NotMaterialised'] });
    } else if (reasons.length > 0) {
      keep.push({ version: v.name, reasons: latestFailure ? [...reasons, 'LatestFailure'] : reasons });
    } else if (latestFailure) {
      keep.push({ version: v.name, reasons: ['LatestFailure'] });
    } else if (isAvailable(v) && unusedKept < keepUnused) {
      unusedKept++;
      keep.push({ version: v.name, reasons: ['WithinKeepUnused'] });
    } else {
      doomed.push(v.name);
    }
  }
  return { delete: doomed.reverse(), keep };
}

/** The planned deletions still safe by the live lists read right before deleting. */
export function confirmDeletion(plan: RetentionPlan, live: VersionUse): string[] {
  return plan.delete.filter((v) => protections(v, live).length === 0);
}
