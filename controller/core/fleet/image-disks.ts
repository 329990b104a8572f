// The image disks of earlier versions a fleet VM no longer needs. A DataVolume image's disk is a
// dataVolumeTemplate named after the version; a new version renames it, KubeVirt creates the new
// DataVolume and keeps the old one (still owned by the VM). Once the VM's spec no longer names the
// old one and no VMI reads it, the fleet deletes it. Pure.
import { IMAGE_DISK_LABEL } from './names.ts';

export interface DiskView {
  name: string;
  labels?: Record<string, string>;
  ownerReferences?: { uid: string; kind: string; controller?: boolean }[];
  deletionTimestamp?: unknown;
}

export interface VMDiskUse {
  /** The VM's uid: only disks it controls are its image disks. */
  uid: string;
  /** spec.dataVolumeTemplates[].metadata.name */
  templates: readonly string[];
  /** DataVolumes the VM's VMI mounts (spec.volumes[].dataVolume.name); empty without a VMI. */
  mountedByVMI: readonly string[];
}

/** Image disks (IMAGE_DISK_LABEL) the VM controls that neither its spec nor its VMI uses. */
export function staleImageDisks(vm: VMDiskUse, disks: readonly DiskView[]): string[] {
  const templates = new Set(vm.templates);
  const mounted = new Set(vm.mountedByVMI);
  return disks
    .filter((d) => d.labels?.[IMAGE_DISK_LABEL] !== undefined && !d.deletionTimestamp)
    .filter((d) => d.ownerReferences?.some((o) => o.controller && o.kind === 'VirtualMachine' && o.uid === vm.uid))
    .filter((d) => !templates.has(d.name) && !mounted.has(d.name))
    .map((d) => d.name)
    .sort();
}
