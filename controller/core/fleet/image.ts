// Which GoldenImage version boots a fleet. For now only pinned versions and pinned channels of
// ContainerDisk images resolve (issue 4); the image lifecycle controller comes later.
import type { GoldenImageSpec, VMFleetSpec } from '../../api/generated/types.ts';

/** The image version a fleet boots, as the desired VM needs it. */
export interface ResolvedImage {
  /** Name of the GoldenImage version (spec.versions[].name). */
  version: string;
  /** For ContainerDisk storage: `repository@sha256:…`, set as the volume's containerDisk.image. */
  containerDisk?: string;
}

/** Why an image does not resolve; the shell reports it as the fleet's Stalled reason/message. */
export type ImageResolutionReason = 'ImageNotShared' | 'VersionNotFound' | 'ChannelNotFound' | 'ChannelNotPinned' | 'UnsupportedStorage' | 'VersionWithoutDigest';

export type ImageResolution = { ok: true; image: ResolvedImage } | { ok: false; reason: ImageResolutionReason; message: string };

/**
 * Whether the GoldenImage in `imageNamespace` may be used by a fleet in `fleetNamespace`: always
 * within its own namespace, otherwise only when spec.sharing.namespaces lists it or "*".
 */
export function imageSharedWith(golden: GoldenImageSpec, imageNamespace: string, fleetNamespace: string): boolean {
  if (imageNamespace === fleetNamespace) return true;
  const allowed = golden.sharing?.namespaces ?? [];
  return allowed.includes('*') || allowed.includes(fleetNamespace);
}

/**
 * Resolves `fleetImage` (`version` or `channel`) against the GoldenImage's spec:
 * - `version` must name an entry of spec.versions;
 * - `channel` must name a channel pinned with `version:` (a `follows` channel is not resolved
 *   yet: ChannelNotPinned);
 * - storage must be ContainerDisk (the default) and the source a registry; the version needs a
 *   digest, giving `repository@digest`.
 * Namespaces are only used for the sharing check (`fleetImage.namespace` defaults to the fleet's).
 */
export function resolveImage(fleetImage: VMFleetSpec['image'], golden: GoldenImageSpec, fleetNamespace: string): ImageResolution {
  const imageNamespace = fleetImage.namespace ?? fleetNamespace;
  const what = `GoldenImage ${imageNamespace}/${fleetImage.name}`;
  if (!imageSharedWith(golden, imageNamespace, fleetNamespace)) {
    return { ok: false, reason: 'ImageNotShared', message: `${what} is not shared with namespace ${fleetNamespace} (spec.sharing.namespaces)` };
  }
  let versionName: string;
  if (fleetImage.channel !== undefined) {
    const channel = golden.channels?.find((c) => c.name === fleetImage.channel);
    if (!channel) return { ok: false, reason: 'ChannelNotFound', message: `${what} has no channel "${fleetImage.channel}"` };
    if (channel.version === undefined) {
      return {
        ok: false,
        reason: 'ChannelNotPinned',
        message: `channel "${channel.name}" of ${what} follows "${channel.follows ?? '?'}"; only channels pinned with version: are supported for now`,
      };
    }
    versionName = channel.version;
  } else if (fleetImage.version !== undefined) {
    versionName = fleetImage.version;
  } else {
    return { ok: false, reason: 'VersionNotFound', message: 'spec.image sets neither channel nor version' };
  }
  const version = golden.versions?.find((v) => v.name === versionName);
  if (!version) return { ok: false, reason: 'VersionNotFound', message: `${what} has no pinned version "${versionName}" in spec.versions` };
  const storage = golden.storage?.type ?? 'ContainerDisk';
  const registry = golden.source.registry;
  if (storage !== 'ContainerDisk' || !registry) {
    return { ok: false, reason: 'UnsupportedStorage', message: `${what} uses ${storage} storage${registry ? '' : ' without a registry source'}; only ContainerDisk images from a registry are supported for now` };
  }
  if (!version.digest) return { ok: false, reason: 'VersionWithoutDigest', message: `version "${versionName}" of ${what} has no digest` };
  return { ok: true, image: { version: version.name, containerDisk: `${registry.repository}@${version.digest}` } };
}
