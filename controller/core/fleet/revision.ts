// The revision of a fleet: a short, stable hash of everything that shapes its VMs, as
// Deployments label pods with pod-template-hash. Pure (hashing is deterministic, no I/O).
import { createHash } from 'node:crypto';
import type { VMFleetSpec } from '../../api/generated/types.ts';
import type { ResolvedImage } from './image.ts';

/** Hex characters kept from the SHA-256 digest (40 bits: collisions are negligible per fleet). */
export const REVISION_LENGTH = 10;

/**
 * JSON with object keys sorted at every level and `undefined` members dropped, so two values that
 * are equal as data serialise identically whatever their key order.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : sortKeys(v)));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** What the revision covers: every input of `desiredVM` except the fleet's identity and the index. */
export interface RevisionInput {
  template: VMFleetSpec['template'];
  /** `spec.image.volume`: the volume the image fills. */
  imageVolume: string;
  nameGeneration?: VMFleetSpec['nameGeneration'];
  image: ResolvedImage;
}

/**
 * The fleet's update revision: the first REVISION_LENGTH hex characters of SHA-256 over the
 * canonical JSON of the template, the image volume, nameGeneration and the resolved image
 * (version, and its containerDisk reference or PVC; not its phase). So a new image version is a
 * new revision, rolled out under the update strategy. Equal inputs (as data) give equal
 * revisions (a ContainerDisk image hashes as it did before `pvc` existed); the result is a valid
 * label value.
 */
export function revisionHash(input: RevisionInput): string {
  const data = {
    template: input.template,
    imageVolume: input.imageVolume,
    nameGeneration: { appendIndexToSecretRefs: input.nameGeneration?.appendIndexToSecretRefs ?? false, appendIndexToConfigMapRefs: input.nameGeneration?.appendIndexToConfigMapRefs ?? false },
    // The phase is left out: a version deprecated or made obsolete is the same disk.
    image: { version: input.image.version, containerDisk: input.image.containerDisk, pvc: input.image.pvc },
  };
  return createHash('sha256').update(canonicalJson(data)).digest('hex').slice(0, REVISION_LENGTH);
}
