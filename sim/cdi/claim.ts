// The PersistentVolumeClaim CDI's DataVolume controller creates for a DataVolume
// (newPersistentVolumeClaim and renderPvcSpec in pkg/controller/datavolume), and the status the
// simulated storage gives a claim when it binds.
import type { V1PersistentVolumeClaim, V1PersistentVolumeClaimSpec, V1PersistentVolumeClaimStatus } from '@kubernetes/client-node';
import type { DataVolume } from '../world.ts';
import type { TransferSource } from './source.ts';

/** CDI's PVC annotations (pkg/controller/common/util.go). */
export const ANN = {
  endpoint: 'cdi.kubevirt.io/storage.import.endpoint',
  source: 'cdi.kubevirt.io/storage.import.source',
  contentType: 'cdi.kubevirt.io/storage.contentType',
  podRestarts: 'cdi.kubevirt.io/storage.pod.restarts',
  cloneRequest: 'k8s.io/CloneRequest',
} as const;

/**
 * When the simulated transfer into the claim began, in milliseconds (the claim's
 * creationTimestamp has only seconds, too coarse for a sped-up clock). Simulator bookkeeping,
 * not a CDI annotation.
 */
export const TRANSFER_START_ANNOTATION = 'sim.virtfleet.io/cdi-transfer-start';

/**
 * The simulated cluster's default StorageProfile. CDI fills the access modes and volume mode a
 * DataVolume's `spec.storage` leaves out from the StorageProfile of its storage class; the
 * simulated storage offers ReadWriteMany for both Filesystem and Block, the first set being the
 * default. So VMs on DataVolumes are live-migratable unless a DataVolume asks for ReadWriteOnce.
 */
export const DEFAULT_STORAGE_PROFILE = {
  claimPropertySets: [
    { accessModes: ['ReadWriteMany'], volumeMode: 'Filesystem' },
    { accessModes: ['ReadWriteMany'], volumeMode: 'Block' },
  ],
} as const;

/** The PVC spec fields a DataVolume's `spec.pvc` or `spec.storage` carries over. */
const SPEC_FIELDS = ['accessModes', 'resources', 'selector', 'storageClassName', 'volumeMode', 'volumeName', 'volumeAttributesClassName'] as const;

export function requestedStorage(spec: V1PersistentVolumeClaimSpec | undefined): string | undefined {
  const value = spec?.resources?.requests?.['storage'];
  return value === undefined ? undefined : String(value);
}

/** The PVC spec: the DataVolume's, completed from the storage profile (and, for a clone, the source's size). */
export function claimSpec(dv: DataVolume, sourceClaim?: V1PersistentVolumeClaim): V1PersistentVolumeClaimSpec {
  const given = (dv.spec?.storage ?? dv.spec?.pvc ?? {}) as Record<string, unknown>;
  const spec: Record<string, unknown> = {};
  for (const field of SPEC_FIELDS) if (given[field] !== undefined) spec[field] = structuredClone(given[field]);
  const out = spec as V1PersistentVolumeClaimSpec;
  const volumeMode = out.volumeMode ?? DEFAULT_STORAGE_PROFILE.claimPropertySets[0].volumeMode;
  if (!out.accessModes || out.accessModes.length === 0) {
    // CDI takes the first claim property set of the profile matching the volume mode.
    const set = DEFAULT_STORAGE_PROFILE.claimPropertySets.find((s) => s.volumeMode === volumeMode) ?? DEFAULT_STORAGE_PROFILE.claimPropertySets[0];
    out.accessModes = [...set.accessModes];
  }
  out.volumeMode = volumeMode;
  if (requestedStorage(out) === undefined && sourceClaim) {
    // CDI's detectCloneSize: a clone without a size gets the source's.
    const size = sourceClaim.status?.capacity?.['storage'] ?? requestedStorage(sourceClaim.spec);
    if (size !== undefined) out.resources = { ...out.resources, requests: { ...out.resources?.requests, storage: String(size) } };
  }
  return out;
}

/** The claim CDI creates for a DataVolume: same name and namespace, controlled by the DataVolume. */
export function claimForDataVolume(dv: DataVolume, source: TransferSource, startedAt: string, sourceClaim?: V1PersistentVolumeClaim): V1PersistentVolumeClaim {
  const spec = claimSpec(dv, sourceClaim);
  const labels: Record<string, string> = {
    app: 'containerized-data-importer',
    'app.kubernetes.io/component': 'storage',
    'app.kubernetes.io/managed-by': 'cdi-controller',
  };
  // CDI keeps Prometheus' "filling up" alert off filesystem claims it fills.
  if (spec.volumeMode === 'Filesystem') labels['alerts.k8s.io/KubePersistentVolumeFillingUp'] = 'disabled';
  Object.assign(labels, dv.metadata?.labels ?? {});

  // CDI copies the DataVolume's annotations onto the claim, then adds its own.
  const annotations: Record<string, string> = { ...(dv.metadata?.annotations ?? {}) };
  delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  annotations[ANN.podRestarts] = '0';
  annotations[ANN.contentType] = String((dv.spec as { contentType?: string } | undefined)?.contentType ?? 'kubevirt');
  if (source.kind === 'import') {
    annotations[ANN.source] = source.type === 'blank' ? 'none' : source.type;
    if (source.url !== undefined) annotations[ANN.endpoint] = source.url;
  } else if (source.kind === 'clone') {
    annotations[ANN.cloneRequest] = `${source.namespace}/${source.name}`;
  }
  annotations[TRANSFER_START_ANNOTATION] = startedAt;

  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: dv.metadata?.name,
      namespace: dv.metadata?.namespace,
      labels,
      annotations,
      ownerReferences: [{
        apiVersion: 'cdi.kubevirt.io/v1beta1',
        kind: 'DataVolume',
        name: dv.metadata!.name!,
        uid: dv.metadata!.uid!,
        controller: true,
        blockOwnerDeletion: true,
      }],
    },
    spec,
  };
}

/** Whether the claim is controlled by this DataVolume (CDI's metav1.IsControlledBy). */
export function isControlledBy(claim: V1PersistentVolumeClaim, dv: DataVolume): boolean {
  return (claim.metadata?.ownerReferences ?? []).some((o) => o.controller === true && o.kind === 'DataVolume' && o.uid === dv.metadata?.uid);
}

/** Whether any DataVolume owns the claim: its storage is then the DataVolume controller's business. */
export function isOwnedByDataVolume(claim: V1PersistentVolumeClaim): boolean {
  return (claim.metadata?.ownerReferences ?? []).some((o) => o.kind === 'DataVolume');
}

/** The status of a bound claim: its requested size as capacity, its access modes. */
export function boundClaimStatus(claim: V1PersistentVolumeClaim): V1PersistentVolumeClaimStatus {
  const storage = requestedStorage(claim.spec);
  return {
    phase: 'Bound',
    ...(claim.spec?.accessModes ? { accessModes: [...claim.spec.accessModes] } : {}),
    ...(storage !== undefined ? { capacity: { storage } } : {}),
  };
}

/** How a claim is being filled, from the annotations CDI put on it (it carries the work). */
export function claimTransferKind(claim: V1PersistentVolumeClaim): 'clone' | 'blank' | 'import' {
  const a = claim.metadata?.annotations ?? {};
  if (a[ANN.cloneRequest]) return 'clone';
  if (a[ANN.source] === 'none') return 'blank';
  return 'import';
}

/** When the transfer into the claim began (epoch ms). */
export function transferStart(claim: V1PersistentVolumeClaim): number | undefined {
  const at = claim.metadata?.annotations?.[TRANSFER_START_ANNOTATION] ?? claim.metadata?.creationTimestamp;
  if (at === undefined) return undefined;
  const t = at instanceof Date ? at.getTime() : Date.parse(String(at));
  return Number.isNaN(t) ? undefined : t;
}
