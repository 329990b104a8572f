// Plain data the GoldenImage decisions work on: the image as the user wrote it and as the
// controller recorded it. Pure types, shared by every module of controller/core/image/.
import type { GoldenImageSpec, GoldenImageStatus } from '../../api/generated/types.ts';

export type ImageSpec = GoldenImageSpec;
export type ImageStatus = GoldenImageStatus;
export type RecordedVersion = NonNullable<GoldenImageStatus['versions']>[number];
export type VersionPhase = RecordedVersion['phase'];
export type RecordedChannel = NonNullable<GoldenImageStatus['channels']>[number];
export type PinnedVersion = NonNullable<GoldenImageSpec['versions']>[number];
export type ChannelSpec = NonNullable<GoldenImageSpec['channels']>[number];

/** The GoldenImage an image decision is about. */
export interface ImageRef {
  namespace: string;
  name: string;
  uid: string;
}

/**
 * What one look at the source found, identified the way the source identifies versions:
 * a manifest digest (registry), a checksum of the bytes at a URL (http), or a PVC's uid (pvc).
 */
export type FoundVersion =
  | { kind: 'registry'; digest: string }
  | { kind: 'http'; checksum: string; url: string }
  | { kind: 'pvc'; uid: string; namespace: string; name: string };

/** Phases in which a version's data exists and VMs can boot it. */
export const AVAILABLE_PHASES: readonly VersionPhase[] = ['Ready', 'Deprecated', 'Obsolete'];

export const isAvailable = (v: Pick<RecordedVersion, 'phase'>): boolean => AVAILABLE_PHASES.includes(v.phase);
