// The desired KubeVirt VirtualMachine of one index of a fleet (README "How a fleet is
// reconciled", step 1). Pure: the template is deep-copied, never mutated.
import { createHash } from 'node:crypto';
import type { V1DataVolumeTemplateSpec, V1VirtualMachine, V1VirtualMachineSpec, V1Volume } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { VMFleetSpec } from '../../api/generated/types.ts';
import type { ResolvedImage } from './image.ts';
import { FLEET_LABEL, IMAGE_DISK_LABEL, INDEX_LABEL, childLabels, vmName, withoutArgoCdTracking } from './names.ts';
import { canonicalJson } from './revision.ts';

export const FLEET_API_VERSION = 'virtfleet.io/v1alpha1';
export const FLEET_KIND = 'VMFleet';

/** The identity of the owning fleet. */
export interface FleetRef {
  name: string;
  namespace: string;
  uid: string;
}

export interface DesiredVMInput {
  fleet: FleetRef;
  /** The fleet's spec; only template, image.volume and nameGeneration are read. */
  spec: Pick<VMFleetSpec, 'template' | 'image' | 'nameGeneration'>;
  image: ResolvedImage;
  index: number;
  /** The revision this VM is stamped at (normally revisionHash of the same inputs). */
  revision: string;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: boolean;
  blockOwnerDeletion: boolean;
}

/** The controller owner reference every child carries (invariant 4). */
export function fleetOwnerReference(fleet: FleetRef): OwnerReference {
  return { apiVersion: FLEET_API_VERSION, kind: FLEET_KIND, name: fleet.name, uid: fleet.uid, controller: true, blockOwnerDeletion: true };
}

/**
 * Every Secret / ConfigMap reference of a VM spec that nameGeneration suffixes with `-<index>`:
 * - Secrets: volumes[].secret.secretName; volumes[].cloudInitNoCloud and cloudInitConfigDrive
 *   .secretRef.name and .networkDataSecretRef.name; volumes[].sysprep.secret.name;
 *   accessCredentials[].sshPublicKey.source.secret.secretName and
 *   accessCredentials[].userPassword.source.secret.secretName.
 * - ConfigMaps: volumes[].configMap.name; volumes[].sysprep.configMap.name.
 * Not suffixed: containerDisk.imagePullSecret (registry credentials are shared), serviceAccount
 * volumes, and references inside dataVolumeTemplates (CDI sources).
 */
export const INDEXED_REFERENCES = {
  secrets: [
    'spec.template.spec.volumes[].secret.secretName',
    'spec.template.spec.volumes[].cloudInitNoCloud.secretRef.name',
    'spec.template.spec.volumes[].cloudInitNoCloud.networkDataSecretRef.name',
    'spec.template.spec.volumes[].cloudInitConfigDrive.secretRef.name',
    'spec.template.spec.volumes[].cloudInitConfigDrive.networkDataSecretRef.name',
    'spec.template.spec.volumes[].sysprep.secret.name',
    'spec.template.spec.accessCredentials[].sshPublicKey.source.secret.secretName',
    'spec.template.spec.accessCredentials[].userPassword.source.secret.secretName',
  ],
  configMaps: ['spec.template.spec.volumes[].configMap.name', 'spec.template.spec.volumes[].sysprep.configMap.name'],
} as const;

function suffixed(name: string | undefined, index: number): string | undefined {
  return name === undefined || name === '' ? name : `${name}-${index}`;
}

function indexVolume(v: V1Volume, index: number, secrets: boolean, configMaps: boolean, dvNames: Map<string, string>): void {
  if (secrets) {
    if (v.secret) v.secret.secretName = suffixed(v.secret.secretName, index);
    for (const ci of [v.cloudInitNoCloud, v.cloudInitConfigDrive]) {
      if (ci?.secretRef) ci.secretRef.name = suffixed(ci.secretRef.name, index);
      if (ci?.networkDataSecretRef) ci.networkDataSecretRef.name = suffixed(ci.networkDataSecretRef.name, index);
    }
    if (v.sysprep?.secret) v.sysprep.secret.name = suffixed(v.sysprep.secret.name, index);
  }
  if (configMaps) {
    if (v.configMap) v.configMap.name = suffixed(v.configMap.name, index);
    if (v.sysprep?.configMap) v.sysprep.configMap.name = suffixed(v.sysprep.configMap.name, index);
  }
  // dataVolumeTemplates are per VM (as in KubeVirt's pool): `<name>-<index>`, references follow.
  if (v.dataVolume && dvNames.has(v.dataVolume.name)) v.dataVolume.name = dvNames.get(v.dataVolume.name)!;
  if (v.persistentVolumeClaim && dvNames.has(v.persistentVolumeClaim.claimName)) v.persistentVolumeClaim.claimName = dvNames.get(v.persistentVolumeClaim.claimName)!;
}

/** Hex characters of the hash that ends an image DataVolume's name. */
export const IMAGE_DATA_VOLUME_HASH_LENGTH = 8;

/**
 * The name of the DataVolume that clones a DataVolume image into one VM's volume:
 * `<vm>-<volume>-<hash>`, the hash taken over the resolved version and its PVC. A new version
 * gives a new name, so KubeVirt clones a fresh disk; the same version always gives the same name,
 * so nothing else ever recreates it. At most 63 + 1 + 63 + 1 + 8 characters, well within CDI's
 * 253 for a DataVolume name.
 */
export function imageDataVolumeName(vm: string, volume: string, image: Pick<ResolvedImage, 'version' | 'pvc'>): string {
  const hash = createHash('sha256').update(canonicalJson({ version: image.version, pvc: image.pvc })).digest('hex').slice(0, IMAGE_DATA_VOLUME_HASH_LENGTH);
  return `${vm}-${volume}-${hash}`;
}

/**
 * Makes the image volume a `dataVolume` backed by a dataVolumeTemplate that clones `pvc`. When the
 * template's image volume already uses one of its dataVolumeTemplates, that entry is the base: its
 * metadata and storage (size, storage class) are kept, its source replaced and it is renamed.
 * Otherwise `spec.storage` is left empty, and CDI sizes the clone like its source (detectCloneSize).
 */
function fillDataVolumeImage(vmSpec: V1VirtualMachineSpec, volumes: V1Volume[], volumeName: string, dataVolumeName: string, pvc: { namespace: string; name: string }, fleet: string): void {
  const templates = (vmSpec.dataVolumeTemplates ??= []);
  const at = volumes.findIndex((v) => v.name === volumeName);
  const usedTemplate = at >= 0 ? volumes[at]!.dataVolume?.name : undefined;
  const baseAt = usedTemplate === undefined ? -1 : templates.findIndex((t) => t.metadata?.name === usedTemplate);
  const base = baseAt >= 0 ? templates[baseAt] : undefined;
  const { source: _source, sourceRef: _sourceRef, ...rest } = base?.spec ?? {};
  const template: V1DataVolumeTemplateSpec = {
    metadata: { ...base?.metadata, name: dataVolumeName, labels: { ...base?.metadata?.labels, [FLEET_LABEL]: fleet, [IMAGE_DISK_LABEL]: volumeName } },
    spec: { ...rest, ...(rest.storage === undefined && rest.pvc === undefined ? { storage: {} } : {}), source: { pvc: { namespace: pvc.namespace, name: pvc.name } } },
  };
  if (baseAt >= 0) templates[baseAt] = template;
  else templates.push(template);
  const filled: V1Volume = { name: volumeName, dataVolume: { name: dataVolumeName } };
  if (at >= 0) volumes[at] = filled;
  else volumes.push(filled);
}

function cleanMeta(meta: { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined, extraLabels: Record<string, string>) {
  const labels = { ...withoutArgoCdTracking(meta?.labels), ...extraLabels };
  const annotations = withoutArgoCdTracking(meta?.annotations);
  return { labels, ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}) };
}

/**
 * The desired VirtualMachine for `index`:
 * - name `<fleet>-<index>` in the fleet's namespace, the controller owner reference to the fleet;
 * - labels: the template's, without Argo CD tracking keys, plus virtfleet.io/fleet, /revision and
 *   /index; annotations: the template's without Argo CD keys. The VMI template (spec.template.
 *   metadata) gets the fleet and index labels only (no revision, so a metadata-only revision
 *   change never touches what the VMI is stamped from) and loses Argo CD keys too;
 * - spec: the template's, with the image volume (spec.image.volume) made a containerDisk of
 *   `image.containerDisk` (other fields of an existing containerDisk, such as imagePullPolicy,
 *   are kept; any other volume source is replaced) — or, for a DataVolume image (`image.pvc`), a
 *   `dataVolume` volume backed by a dataVolumeTemplate named by imageDataVolumeName that clones
 *   the version's PVC from the image's namespace (see fillDataVolumeImage) — dataVolumeTemplates
 *   renamed `<name>-<index>` with the volumes that use them, and the references in
 *   INDEXED_REFERENCES suffixed `-<index>` when nameGeneration asks for it.
 * A new image version changes the image DataVolume's name (and only that template), which
 * classifyChange (given the image volume) calls `restartRequired`: KubeVirt creates the new disk
 * from the template, the restart boots from it, and the fleet removes the old disk (labelled
 * IMAGE_DISK_LABEL) once no VMI uses it, since KubeVirt keeps a DataVolume whose template left
 * the VM.
 */
export function desiredVM(input: DesiredVMInput): V1VirtualMachine {
  const { fleet, spec, image, index, revision } = input;
  const name = vmName(fleet.name, index);
  const vmSpec: V1VirtualMachineSpec = structuredClone(spec.template.spec);
  const secrets = spec.nameGeneration?.appendIndexToSecretRefs ?? false;
  const configMaps = spec.nameGeneration?.appendIndexToConfigMapRefs ?? false;

  const dvNames = new Map<string, string>();
  for (const dvt of vmSpec.dataVolumeTemplates ?? []) {
    const original = dvt.metadata?.name;
    if (!original) continue;
    const indexed = `${original}-${index}`;
    dvNames.set(original, indexed);
    const { labels: _labels, annotations: _annotations, ...rest } = dvt.metadata!;
    const meta = cleanMeta(dvt.metadata, {});
    dvt.metadata = { ...rest, name: indexed, ...(Object.keys(meta.labels).length > 0 ? { labels: meta.labels } : {}), ...(meta.annotations ? { annotations: meta.annotations } : {}) };
  }

  const vmiSpec = vmSpec.template.spec;
  if (vmiSpec) {
    for (const v of vmiSpec.volumes ?? []) indexVolume(v, index, secrets, configMaps, dvNames);
    if (image.pvc !== undefined) {
      fillDataVolumeImage(vmSpec, (vmiSpec.volumes ??= []), spec.image.volume, imageDataVolumeName(name, spec.image.volume, image), image.pvc, fleet.name);
    } else if (image.containerDisk !== undefined) {
      const volumes = (vmiSpec.volumes ??= []);
      const at = volumes.findIndex((v) => v.name === spec.image.volume);
      const old = at >= 0 ? volumes[at]!.containerDisk : undefined;
      const filled: V1Volume = { name: spec.image.volume, containerDisk: { ...old, image: image.containerDisk } };
      if (at >= 0) volumes[at] = filled;
      else volumes.push(filled);
    }
    if (secrets) {
      for (const ac of vmiSpec.accessCredentials ?? []) {
        const ssh = ac.sshPublicKey?.source.secret;
        if (ssh) ssh.secretName = suffixed(ssh.secretName, index)!;
        const pw = ac.userPassword?.source.secret;
        if (pw) pw.secretName = suffixed(pw.secretName, index)!;
      }
    }
  }
  vmSpec.template.metadata = cleanMeta(vmSpec.template.metadata as { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined, {
    [FLEET_LABEL]: fleet.name,
    [INDEX_LABEL]: String(index),
  });

  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: {
      name,
      namespace: fleet.namespace,
      ...cleanMeta(spec.template.metadata, childLabels(fleet.name, index, revision)),
      ownerReferences: [fleetOwnerReference(fleet)],
    },
    spec: vmSpec,
  };
}
