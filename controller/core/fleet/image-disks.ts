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
  /** metadata.creationTimestamp, epoch ms. */
  createdAt: number;
}

export interface VMDiskUse {
  /** The VM's uid: only disks it controls are its image disks. */
  uid: string;
  /** spec.dataVolumeTemplates[].metadata.name */
  templates: readonly string[];
  /** DataVolumes the VM's VMI mounts (spec.volumes[].dataVolume.name); empty without a VMI. */
  mountedByVMI: readonly string[];
}

/**
 * Image disks (IMAGE_DISK_LABEL) the VM controls that neither its spec nor its VMI uses, and that
 * are not younger than the image disk its spec names. The age rule guards against a stale cache:
 * a VM read before its update names the old disk while the new one already exists, and the new
 * one is younger (timestamps have a one-second grain, so ties pass: the shell confirms on a fresh
 * read of the VM before it deletes). Without the spec's disk in view nothing is stale.
 */
export function staleImageDisks(vm: VMDiskUse, disks: readonly DiskView[]): string[] {
  const templates = new Set(vm.templates);
  const mounted = new Set(vm.mountedByVMI);
  const imageDisks = disks
    .filter((d) => d.labels?.[IMAGE_DISK_LABEL] !== undefined)
    .filter((d) => d.ownerReferences?.some((o) => o.controller && o.kind === 'VirtualMachine' && o.uid === vm.uid));
  const current = imageDisks.find((d) => templates.has(d.name));
  if (!current) return [];
  return imageDisks
    .filter((d) => !d.deletionTimestamp && !templates.has(d.name) && !mounted.has(d.name) && d.createdAt <= current.createdAt)
    .map((d) => d.name)
    .sort();
}
