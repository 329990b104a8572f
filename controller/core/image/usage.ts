// Who uses which version of a GoldenImage (README "Safety invariants" 3: a version a VM uses is
// never deleted). A VM uses a version when it boots its containerDisk `repository@digest`, or
// reads the version's PVC: by cloning it (dataVolumeTemplates with source.pvc or with a sourceRef
// to a DataSource that points at it) or by mounting it. Pure; the shell keeps only
// projectVM(vm) in its cache for VMs outside fleets, which keeps every field read here.
import type { V1VirtualMachine, V1Volume } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { DataVolume } from './cdi.ts';
import { dataVolumeName } from './materialise.ts';
import type { ImageRef, ImageSpec, RecordedVersion } from './types.ts';

export interface ObjectKey {
  namespace: string;
  name: string;
}

/** The image references of one VM: small enough to keep for every VM of the cluster. */
export interface VmImageRefs {
  /** containerDisk image strings, as written. */
  containerDisks: string[];
  /** PVCs the VM clones (dataVolumeTemplates' source.pvc) or mounts (other than its own disks). */
  pvcs: ObjectKey[];
  /** DataSources the VM clones through (dataVolumeTemplates' sourceRef of kind DataSource). */
  dataSources: ObjectKey[];
}

/** A DataSource as the usage count needs it: where its `spec.source.pvc` points, if anywhere. */
export interface DataSourcePointer extends ObjectKey {
  pvc?: { namespace?: string; name: string };
}

const keyOf = (k: ObjectKey): string => `${k.namespace}/${k.name}`;

function uniqueKeys(keys: ObjectKey[]): ObjectKey[] {
  const seen = new Map<string, ObjectKey>();
  for (const k of keys) if (!seen.has(keyOf(k))) seen.set(keyOf(k), k);
  return [...seen.values()].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
}

/** The containerDisks, PVCs and DataSources a VM reads images from, deduplicated and sorted. */
export function imageRefsOfVM(vm: V1VirtualMachine): VmImageRefs {
  const namespace = vm.metadata?.namespace ?? '';
  const templates = vm.spec?.dataVolumeTemplates ?? [];
  const ownDisks = new Set(templates.map((t) => t.metadata?.name).filter((n): n is string => n !== undefined));
  const volumes: V1Volume[] = vm.spec?.template?.spec?.volumes ?? [];
  const containerDisks = [...new Set(volumes.map((v) => v.containerDisk?.image).filter((i): i is string => !!i))].sort();
  const pvcs: ObjectKey[] = [];
  const dataSources: ObjectKey[] = [];
  for (const t of templates) {
    const pvc = t.spec?.source?.pvc;
    if (pvc?.name) pvcs.push({ namespace: pvc.namespace || namespace, name: pvc.name });
    const ref = t.spec?.sourceRef;
    if (ref?.name && ref.kind === 'DataSource') dataSources.push({ namespace: ref.namespace || namespace, name: ref.name });
  }
  for (const v of volumes) {
    const claim = v.persistentVolumeClaim?.claimName ?? v.dataVolume?.name;
    if (claim && !ownDisks.has(claim)) pvcs.push({ namespace, name: claim });
  }
  return { containerDisks, pvcs: uniqueKeys(pvcs), dataSources: uniqueKeys(dataSources) };
}

/**
 * A minimal VirtualMachine holding exactly what imageRefsOfVM reads (identity, containerDisk
 * images, PVC and DataVolume volume names, dataVolumeTemplates' names and sources), for a cache
 * transform: imageRefsOfVM(projectVM(vm)) equals imageRefsOfVM(vm).
 */
export function projectVM(vm: V1VirtualMachine): V1VirtualMachine {
  const m = vm.metadata ?? {};
  const volumes = (vm.spec?.template?.spec?.volumes ?? []).flatMap((v): V1Volume[] => {
    if (v.containerDisk?.image) return [{ name: v.name, containerDisk: { image: v.containerDisk.image } }];
    if (v.persistentVolumeClaim?.claimName) return [{ name: v.name, persistentVolumeClaim: { claimName: v.persistentVolumeClaim.claimName } }];
    if (v.dataVolume?.name) return [{ name: v.name, dataVolume: { name: v.dataVolume.name } }];
    return [];
  });
  const templates = (vm.spec?.dataVolumeTemplates ?? []).map((t) => ({
    metadata: t.metadata?.name !== undefined ? { name: t.metadata.name } : {},
    spec: {
      ...(t.spec?.source?.pvc ? { source: { pvc: { namespace: t.spec.source.pvc.namespace, name: t.spec.source.pvc.name } } } : {}),
      ...(t.spec?.sourceRef ? { sourceRef: { ...t.spec.sourceRef } } : {}),
    },
  }));
  return {
    ...(vm.apiVersion !== undefined ? { apiVersion: vm.apiVersion } : {}),
    ...(vm.kind !== undefined ? { kind: vm.kind } : {}),
    metadata: {
      ...(m.name !== undefined ? { name: m.name } : {}),
      ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
      ...(m.uid !== undefined ? { uid: m.uid } : {}),
      ...(m.resourceVersion !== undefined ? { resourceVersion: m.resourceVersion } : {}),
    },
    spec: {
      ...(templates.length > 0 ? { dataVolumeTemplates: templates } : {}),
      template: { spec: { domain: { devices: {} }, ...(volumes.length > 0 ? { volumes } : {}) } },
    },
  };
}

/**
 * `repository` and digest of a containerDisk image string `repo[:tag]@digest`; undefined for an
 * image without a digest (a tag alone says nothing about which version it is).
 */
export function parseDigestedImage(image: string): { repository: string; digest: string } | undefined {
  const at = image.lastIndexOf('@');
  if (at <= 0) return undefined;
  let repository = image.slice(0, at);
  const digest = image.slice(at + 1);
  // A tag follows the last ':' after the last '/'; a ':' before it is a registry port.
  const colon = repository.lastIndexOf(':');
  if (colon > repository.lastIndexOf('/')) repository = repository.slice(0, colon);
  return repository && digest ? { repository, digest } : undefined;
}

/** The PVC holding a version under DataVolume storage, in the image's namespace. */
export const versionPvc = (image: ImageRef, version: RecordedVersion): ObjectKey => ({
  namespace: image.namespace,
  name: version.pvcName ?? dataVolumeName(image.name, version.name),
});

/** Version name by PVC key, and the DataSources (by key) that point at one of those PVCs. */
function pvcIndex(image: ImageRef, versions: readonly RecordedVersion[], dataSources: readonly DataSourcePointer[]) {
  const byPvc = new Map<string, string>();
  for (const v of versions) byPvc.set(keyOf(versionPvc(image, v)), v.name);
  const byDataSource = new Map<string, string>();
  for (const ds of dataSources) {
    if (!ds.pvc) continue;
    const version = byPvc.get(keyOf({ namespace: ds.pvc.namespace || ds.namespace, name: ds.pvc.name }));
    if (version !== undefined) byDataSource.set(keyOf(ds), version);
  }
  return { byPvc, byDataSource };
}

/**
 * How many VMs use each version (every version of `versions` is a key, 0 when unused). A VM
 * counts once per version, however many of its disks use it.
 */
export function countUsage(input: {
  image: ImageRef;
  spec: ImageSpec;
  versions: readonly RecordedVersion[];
  vms: readonly V1VirtualMachine[];
  dataSources: readonly DataSourcePointer[];
}): Map<string, number> {
  const { image, spec, versions, vms, dataSources } = input;
  const counts = new Map<string, number>(versions.map((v) => [v.name, 0]));
  const repository = spec.source.registry?.repository;
  const byDigest = new Map<string, string>();
  if (repository !== undefined) for (const v of versions) if (v.digest) byDigest.set(v.digest, v.name);
  const { byPvc, byDataSource } = pvcIndex(image, versions, dataSources);
  for (const vm of vms) {
    const refs = imageRefsOfVM(vm);
    const used = new Set<string>();
    for (const disk of refs.containerDisks) {
      const parsed = parseDigestedImage(disk);
      const version = parsed && parsed.repository === repository ? byDigest.get(parsed.digest) : undefined;
      if (version !== undefined) used.add(version);
    }
    for (const pvc of refs.pvcs) {
      const version = byPvc.get(keyOf(pvc));
      if (version !== undefined) used.add(version);
    }
    for (const ds of refs.dataSources) {
      const version = byDataSource.get(keyOf(ds));
      if (version !== undefined) used.add(version);
    }
    for (const v of used) counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return counts;
}

const FINISHED_PHASES = new Set(['Succeeded', 'Failed']);

/**
 * The versions whose PVC is being read by a DataVolume (in any namespace) that has not finished:
 * a clone of it directly (source.pvc) or through a DataSource pointing at it (sourceRef).
 */
export function clonesReading(
  dataVolumes: readonly DataVolume[],
  image: ImageRef,
  versions: readonly RecordedVersion[],
  dataSources: readonly DataSourcePointer[] = [],
): Set<string> {
  const { byPvc, byDataSource } = pvcIndex(image, versions, dataSources);
  const reading = new Set<string>();
  for (const dv of dataVolumes) {
    if (FINISHED_PHASES.has(dv.status?.phase ?? '')) continue;
    const namespace = dv.metadata?.namespace ?? '';
    const pvc = dv.spec?.source?.pvc;
    const ref = dv.spec?.sourceRef;
    const version = pvc?.name
      ? byPvc.get(keyOf({ namespace: pvc.namespace || namespace, name: pvc.name }))
      : ref?.kind === 'DataSource' ? byDataSource.get(keyOf({ namespace: ref.namespace || namespace, name: ref.name })) : undefined;
    if (version !== undefined) reading.add(version);
  }
  return reading;
}
