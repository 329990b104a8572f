// Which GoldenImage events can change a fleet's decision. The fleet reads an image's spec and its
// recorded versions and channels, never the use counts (`usedBy`) the image controller rewrites as
// VMs come and go: during a scale-out of 1,000 VMs that is a status write every few hundred VMs,
// and each would otherwise reconcile every fleet on the image again for nothing.
import type { GoldenImage } from '../api/objects.ts';
import { ChangeFilter } from '../runtime/change-filter.ts';

/** What a fleet reads of a GoldenImage: everything but the use counts. */
export function fleetImageFingerprint(image: GoldenImage): string {
  const status = image.status;
  return JSON.stringify([
    image.spec,
    image.metadata?.deletionTimestamp ?? null,
    status ? { ...status, versions: status.versions?.map(({ usedBy: _usedBy, ...rest }) => rest) } : null,
  ]);
}

/** Remembers each image's fingerprint; says whether an event changed it (pruned on delete). */
export class ImageChanges extends ChangeFilter<GoldenImage> {
  constructor() {
    super(fleetImageFingerprint);
  }
}
