// Which GoldenImage version boots a fleet. `resolveFleetImage` reads the versions and channels
// the image controller records in the GoldenImage's status (ContainerDisk and DataVolume storage).
import type { GoldenImageSpec, GoldenImageStatus, VMFleetSpec } from '../../api/generated/types.ts';

type VersionPhase = NonNullable<GoldenImageStatus['versions']>[number]['phase'];

/** The image version a fleet boots, as the desired VM needs it. */
export interface ResolvedImage {
  /** Name of the GoldenImage version (spec.versions[].name). */
  version: string;
  /** For ContainerDisk storage: `repository@sha256:…`, set as the volume's containerDisk.image. */
  containerDisk?: string;
  /** For DataVolume storage: the PVC holding the version, in the image's namespace; each VM clones it. */
  pvc?: { namespace: string; name: string };
  /**
   * The version's phase when resolved (Ready, Deprecated or Obsolete), for reporting and for
   * finding VMs on an Obsolete version. Not part of the revision: deprecating a version never
   * restarts a VM by itself.
   */
  phase?: VersionPhase;
}

/**
 * Whether the GoldenImage in `imageNamespace` may be used by a fleet in `fleetNamespace`: always
 * within its own namespace, otherwise only when spec.sharing.namespaces lists it or "*".
 */
export function imageSharedWith(golden: GoldenImageSpec, imageNamespace: string, fleetNamespace: string): boolean {
  if (imageNamespace === fleetNamespace) return true;
  const allowed = golden.sharing?.namespaces ?? [];
  return allowed.includes('*') || allowed.includes(fleetNamespace);
}

/** A GoldenImage as a fleet reads it: what the user asked for and what the image controller recorded. */
export interface GoldenImageView {
  spec: GoldenImageSpec;
  status?: GoldenImageStatus;
}

/** Refusals that need a person (or another resource) to change something: the fleet is Stalled. */
export type FleetImageStallReason = 'ImageNotShared' | 'ChannelNotFound' | 'VersionNotFound' | 'VersionFailed' | 'VersionDeleted' | 'UnsupportedStorage';
/** Refusals the image controller resolves by itself (import running, status not yet written): the fleet is Reconciling. */
export type FleetImageWaitReason = 'ChannelNotReady' | 'VersionNotReady';

export type FleetImageResolution =
  | { ok: true; image: ResolvedImage }
  | { ok: false; wait: true; reason: FleetImageWaitReason; message: string }
  | { ok: false; wait: false; reason: FleetImageStallReason; message: string };

const stall = (reason: FleetImageStallReason, message: string): FleetImageResolution => ({ ok: false, wait: false, reason, message });
const waitFor = (reason: FleetImageWaitReason, message: string): FleetImageResolution => ({ ok: false, wait: true, reason, message });

/**
 * Resolves `fleetImage` against the GoldenImage `golden` (in `imageNamespace`) for a fleet in
 * `fleetNamespace`, reading versions and channels from the image's status, where the image
 * controller records them:
 * - sharing first: a fleet in another namespace needs spec.sharing.namespaces to list it or "*"
 *   (ImageNotShared);
 * - `channel`: it must exist in spec (ChannelNotFound) and status must say where it points
 *   (else wait: ChannelNotReady);
 * - `version` (given, or the channel's): unknown to both spec and status is VersionNotFound;
 *   known to spec only, or Discovered/Importing, is a wait (VersionNotReady); Failed is
 *   VersionFailed (with the status message) and Deleted VersionDeleted; Ready, Deprecated and
 *   Obsolete resolve;
 * - storage: ContainerDisk gives `containerDisk: <repository>@<digest>` (status digest, else the
 *   pinned one; none yet is a wait); DataVolume gives `pvc: {namespace: imageNamespace, name:
 *   pvcName}` (no pvcName yet is a wait).
 * A wait is not a stall: nothing is wrong, the image controller has not got there yet.
 */
export function resolveFleetImage(fleetImage: VMFleetSpec['image'], golden: GoldenImageView, imageNamespace: string, fleetNamespace: string): FleetImageResolution {
  const { spec, status } = golden;
  const what = `GoldenImage ${imageNamespace}/${fleetImage.name}`;
  if (!imageSharedWith(spec, imageNamespace, fleetNamespace)) {
    return stall('ImageNotShared', `${what} is not shared with namespace ${fleetNamespace} (spec.sharing.namespaces)`);
  }

  let versionName: string;
  let via = '';
  if (fleetImage.channel !== undefined) {
    const channel = fleetImage.channel;
    if (!spec.channels?.some((c) => c.name === channel)) return stall('ChannelNotFound', `${what} has no channel "${channel}"`);
    const recorded = status?.channels?.find((c) => c.name === channel)?.version;
    if (recorded === undefined) return waitFor('ChannelNotReady', `channel "${channel}" of ${what} points at no version yet (status.channels)`);
    versionName = recorded;
    via = ` (channel "${channel}")`;
  } else if (fleetImage.version !== undefined) {
    versionName = fleetImage.version;
  } else {
    return stall('VersionNotFound', 'spec.image sets neither channel nor version');
  }

  const versionWhat = `version "${versionName}"${via} of ${what}`;
  const recorded = status?.versions?.find((v) => v.name === versionName);
  const pinned = spec.versions?.find((v) => v.name === versionName);
  if (!recorded) {
    if (!pinned) return stall('VersionNotFound', `${what} has no version "${versionName}" in spec.versions or status.versions`);
    return waitFor('VersionNotReady', `${versionWhat} is not recorded in status yet`);
  }
  switch (recorded.phase) {
    case 'Discovered':
    case 'Importing':
      return waitFor('VersionNotReady', `${versionWhat} is ${recorded.phase}${recorded.progress ? ` (${recorded.progress})` : ''}`);
    case 'Failed':
      return stall('VersionFailed', `${versionWhat} failed${recorded.message ? `: ${recorded.message}` : ''}`);
    case 'Deleted':
      return stall('VersionDeleted', `${versionWhat} was deleted${recorded.deletedAt ? ` at ${recorded.deletedAt}` : ''}; pick another version or channel`);
    case 'Ready':
    case 'Deprecated':
    case 'Obsolete':
      break;
  }

  const storage = spec.storage?.type ?? 'ContainerDisk';
  if (storage === 'DataVolume') {
    if (!recorded.pvcName) return waitFor('VersionNotReady', `${versionWhat} is ${recorded.phase} but its PVC is not recorded yet (status.versions[].pvcName)`);
    return { ok: true, image: { version: versionName, phase: recorded.phase, pvc: { namespace: imageNamespace, name: recorded.pvcName } } };
  }
  const registry = spec.source.registry;
  if (!registry) return stall('UnsupportedStorage', `${what} uses ContainerDisk storage without a registry source; http and pvc images need storage.type DataVolume`);
  const digest = recorded.digest ?? pinned?.digest;
  if (!digest) return waitFor('VersionNotReady', `${versionWhat} is ${recorded.phase} but has no digest recorded yet`);
  return { ok: true, image: { version: versionName, phase: recorded.phase, containerDisk: `${registry.repository}@${digest}` } };
}

/**
 * The recorded version of `golden` a VM boots from its image volume: the status version whose
 * digest its containerDisk names (`repository@digest`), or whose PVC its image disk clones.
 * Undefined when the VM boots something the image has no record of.
 */
export function imageVersionOfVM(
  vm: { spec?: { dataVolumeTemplates?: { metadata?: { name?: string }; spec?: { source?: { pvc?: { namespace?: string; name: string } } } }[]; template?: { spec?: { volumes?: { name: string; containerDisk?: { image?: string }; dataVolume?: { name: string } }[] } } } },
  imageVolume: string,
  golden: GoldenImageView,
  imageNamespace: string,
): { name: string; phase: VersionPhase } | undefined {
  const volume = vm.spec?.template?.spec?.volumes?.find((v) => v.name === imageVolume);
  if (!volume) return undefined;
  const versions = golden.status?.versions ?? [];
  const image = volume.containerDisk?.image;
  if (image !== undefined) {
    const at = image.lastIndexOf('@');
    const repository = golden.spec.source.registry?.repository;
    if (at < 0 || repository === undefined) return undefined;
    const named = image.slice(0, at);
    // `repo@digest` or `repo:tag@digest`.
    if (named !== repository && !named.startsWith(`${repository}:`)) return undefined;
    const found = versions.find((v) => v.digest === image.slice(at + 1));
    return found ? { name: found.name, phase: found.phase } : undefined;
  }
  const disk = volume.dataVolume?.name;
  const source = vm.spec?.dataVolumeTemplates?.find((t) => t.metadata?.name === disk)?.spec?.source?.pvc;
  if (!source || (source.namespace ?? imageNamespace) !== imageNamespace) return undefined;
  const found = versions.find((v) => v.pvcName === source.name);
  return found ? { name: found.name, phase: found.phase } : undefined;
}
