// The few CDI (cdi.kubevirt.io/v1beta1) shapes the GoldenImage decisions read and write:
// DataVolume, DataSource and their sources, as CDI's Go API types them
// (staging/src/kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1/types.go).
// Minimal on purpose: only the fields VirtFleet sets or reads.
import type { KubernetesObject, V1ObjectMeta } from '@kubernetes/client-node';

export const CDI_API_VERSION = 'cdi.kubevirt.io/v1beta1';

/** A DataVolume or DataSource condition (CDI's DataVolumeCondition). */
export interface CdiCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown' | '';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastHeartbeatTime?: string;
}

/**
 * CDI's registry source. `secretRef` names a Secret in the DataVolume's namespace with the keys
 * `accessKeyId` (user name) and `secretKey` (password), which the importer passes to the registry
 * as basic credentials; it is not a dockerconfigjson. `certConfigMap` is mounted as the
 * importer's certificate directory, where the registry client reads files named `*.crt`.
 */
export interface RegistrySource {
  url: string;
  pullMethod?: 'pod' | 'node';
  secretRef?: string;
  certConfigMap?: string;
}

/** CDI's http source; `checksum` ("md5|sha1|sha256|sha512:<hex>") is verified by the importer. */
export interface HttpSource {
  url: string;
  checksum?: string;
  secretRef?: string;
  certConfigMap?: string;
}

/** A clone of an existing PVC. */
export interface PvcSource {
  namespace: string;
  name: string;
}

export interface DataVolumeSource {
  registry?: RegistrySource;
  http?: HttpSource;
  pvc?: PvcSource;
  [other: string]: unknown;
}

export interface DataVolumeSourceRef {
  kind: string;
  namespace?: string;
  name: string;
}

export interface StorageSpec {
  resources?: { requests?: { storage?: string } };
  storageClassName?: string;
  accessModes?: string[];
  volumeMode?: string;
}

export interface DataVolumeStatus {
  phase?: string;
  progress?: string;
  restartCount?: number;
  claimName?: string;
  conditions?: CdiCondition[];
}

export interface DataVolume extends KubernetesObject {
  spec?: { source?: DataVolumeSource; sourceRef?: DataVolumeSourceRef; storage?: StorageSpec };
  status?: DataVolumeStatus;
}

export interface DataSource extends KubernetesObject {
  spec?: { source?: { pvc?: { namespace?: string; name: string }; [other: string]: unknown } };
  status?: { conditions?: CdiCondition[] };
}

/** An object VirtFleet wants to exist: the same shape with its identity filled in. */
export type Desired<T extends KubernetesObject> = T & {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta & { name: string; namespace: string };
};
