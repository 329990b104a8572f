// The simulated storage provisioner. The simulated cluster's storage class binds immediately
// (volumeBindingMode Immediate) and never runs out, so every claim in the simulator's
// namespaces is bound as soon as it is seen, with its requested size as capacity. Claims owned by
// a DataVolume are left to the DataVolume controller, which binds them once they are populated
// (as CDI's volume populators do).
import type { V1PersistentVolumeClaim, V1PersistentVolumeClaimStatus } from '@kubernetes/client-node';
import { RESOURCES } from '../../controller/kube/resources.ts';
import type { SimContext } from '../context.ts';
import { splitKey } from '../../controller/runtime/keys.ts';
import { boundClaimStatus, isOwnedByDataVolume } from './claim.ts';

/** The status the provisioner gives a claim, or undefined when it leaves the claim alone. */
export function provisionedStatus(claim: V1PersistentVolumeClaim): V1PersistentVolumeClaimStatus | undefined {
  if (claim.metadata?.deletionTimestamp) return undefined;
  if (isOwnedByDataVolume(claim)) return undefined;
  const phase = claim.status?.phase ?? 'Pending';
  if (phase !== 'Pending') return undefined;
  return boundClaimStatus(claim);
}

export async function reconcilePVC(ctx: SimContext, key: string): Promise<void> {
  const { namespace, name } = splitKey(key);
  const claim = ctx.world.pvcs.get(namespace, name);
  if (!claim) return;
  const status = provisionedStatus(claim);
  if (!status) return;
  await ctx.client.mergePatch(RESOURCES.pvc, { namespace, name }, { metadata: { resourceVersion: claim.metadata?.resourceVersion }, status }, 'status');
}
