// Where a DataVolume's data comes from, as CDI's DataVolume controller decides it
// (getDataVolumeOp in pkg/controller/datavolume/controller-base.go), and how a DataSource
// reference resolves (CDI follows `spec.source.dataSource` at most one level, in the same
// namespace, never to itself).
import type { DataSource, DataVolume } from '../world.ts';

export type DataSourceSource = NonNullable<NonNullable<DataSource['spec']>['source']> & { snapshot?: { namespace?: string; name: string } };

/** Reads DataSources (the simulator passes its cache). */
export type DataSourceGetter = (namespace: string, name: string) => DataSource | undefined;

export type Resolution =
  | { ok: true; source: DataSourceSource; namespace: string; name: string }
  | { ok: false; reason: string; message: string };

/** CDI's import sources whose importer pod reads a URL. */
export const URL_IMPORT_SOURCES = ['http', 'registry', 's3', 'gcs', 'imageio', 'vddk'] as const;

export type TransferSource =
  /** An importer pod fills the claim: http, registry, s3, gcs, imageio, vddk, or blank. */
  | { kind: 'import'; type: string; url?: string }
  /** A clone of an existing claim (spec.source.pvc, or a DataSource's spec.source.pvc). */
  | { kind: 'clone'; namespace: string; name: string }
  /** Cannot start yet: the DataSource is missing, broken, or names a source the simulator has not. */
  | { kind: 'blocked'; phase: string; reason: string; message: string }
  /** Not a source this controller acts on (no source, upload): CDI's dataVolumeNop. */
  | { kind: 'none' };

/**
 * Resolves a DataSource to the source it stands for. A `spec.source.dataSource` pointer is
 * followed one level (CDI: "The maximum depth of a reference chain may not exceed 1"); a pointer
 * to another namespace, to itself, to a missing DataSource or to another pointer does not resolve.
 */
export function resolveDataSource(ds: DataSource, get: DataSourceGetter): Resolution {
  const namespace = ds.metadata?.namespace ?? '';
  const name = ds.metadata?.name ?? '';
  const source = (ds.spec?.source ?? {}) as DataSourceSource;
  const ref = source.dataSource;
  if (!ref) return { ok: true, source, namespace, name };
  const refNamespace = ref.namespace || namespace;
  if (refNamespace !== namespace) {
    return { ok: false, reason: 'CrossNamespaceReference', message: `DataSource ${namespace}/${name} cannot reference DataSource ${refNamespace}/${ref.name} in another namespace` };
  }
  if (ref.name === name) return { ok: false, reason: 'SelfReference', message: `DataSource ${namespace}/${name} references itself` };
  const target = get(refNamespace, ref.name);
  if (!target) return { ok: false, reason: 'NotFound', message: `datasources.cdi.kubevirt.io "${ref.name}" not found` };
  const targetSource = (target.spec?.source ?? {}) as DataSourceSource;
  if (targetSource.dataSource) {
    return { ok: false, reason: 'MaxReferenceDepthReached', message: `DataSource reference chain from ${namespace}/${name} exceeds the maximum depth of 1` };
  }
  return { ok: true, source: targetSource, namespace: refNamespace, name: ref.name };
}

/** The source of a DataVolume, with `sourceRef` resolved through its DataSource. */
export function transferSource(dv: DataVolume, get: DataSourceGetter): TransferSource {
  const namespace = dv.metadata?.namespace ?? '';
  const ref = dv.spec?.sourceRef;
  if (ref) {
    if (ref.kind !== 'DataSource') return { kind: 'none' };
    const dsNamespace = ref.namespace || namespace;
    const ds = get(dsNamespace, ref.name);
    if (!ds) return { kind: 'blocked', phase: 'Pending', reason: 'NotFound', message: `DataSource ${dsNamespace}/${ref.name} not found` };
    const resolved = resolveDataSource(ds, get);
    if (!resolved.ok) return { kind: 'blocked', phase: 'Pending', reason: resolved.reason, message: resolved.message };
    return fromCopySource(resolved.source, resolved.namespace) ?? {
      kind: 'blocked',
      phase: 'Pending',
      reason: 'NoSource',
      message: `DataSource ${dsNamespace}/${ref.name} has no source`,
    };
  }
  const src = dv.spec?.source;
  if (!src) return { kind: 'none' };
  const copy = fromCopySource(src as DataSourceSource, namespace);
  if (copy) return copy;
  for (const type of URL_IMPORT_SOURCES) {
    const s = src[type];
    if (s) return { kind: 'import', type, ...(typeof s.url === 'string' ? { url: s.url } : {}) };
  }
  if (src.blank) return { kind: 'import', type: 'blank' };
  return { kind: 'none' };
}

/** A pvc source is a clone; a snapshot source can never start, as the simulated cluster has no snapshots. */
function fromCopySource(source: DataSourceSource, defaultNamespace: string): TransferSource | undefined {
  if (source.pvc) return { kind: 'clone', namespace: source.pvc.namespace || defaultNamespace, name: source.pvc.name };
  if (source.snapshot) {
    // CDI's MessageCloneWithoutSource ("The source %s %s doesn't exist").
    return { kind: 'blocked', phase: 'CloneScheduled', reason: 'CloneWithoutSource', message: `The source snapshot ${source.snapshot.name} doesn't exist` };
  }
  return undefined;
}
