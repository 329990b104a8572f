// Which CDI keys an event concerns, for the simulator's wiring. CDI's controllers watch the same
// relations (addDataVolumeControllerCommonWatches, addCloneWithoutSourceWatch and
// addDataSourceWatch for DataVolumes; addDataSourceControllerWatches for DataSources):
//   claim event       → its controlling DataVolume, DataVolumes cloning it, DataSources naming it
//   DataVolume event  → itself, DataSources naming its claim (their readiness follows its phase)
//   DataSource event  → itself, DataVolumes whose sourceRef resolves through it, DataSources pointing at it
import type { KubernetesObject } from '@kubernetes/client-node';
import type { DataSource, DataVolume } from '../world.ts';
import { keyOf } from '../../controller/runtime/keys.ts';
import { resolveDataSource, transferSource } from './source.ts';

/** The caches the mapping reads (the simulator's World fits). */
export interface CdiReader {
  dataVolumes: { list(namespace?: string): DataVolume[]; get(namespace: string | undefined, name: string): DataVolume | undefined };
  dataSources: { list(namespace?: string): DataSource[]; get(namespace: string | undefined, name: string): DataSource | undefined };
}

const ref = (obj: KubernetesObject) => ({ namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' });

function claimOfDataSource(ds: DataSource, r: CdiReader): { namespace: string; name: string } | undefined {
  const resolved = resolveDataSource(ds, (ns, n) => r.dataSources.get(ns, n));
  if (!resolved.ok || !resolved.source.pvc) return undefined;
  return { namespace: resolved.source.pvc.namespace || resolved.namespace, name: resolved.source.pvc.name };
}

/** DataSources whose (resolved) source is the claim, or the DataVolume, of that namespace and name. */
export function dataSourcesForClaim(r: CdiReader, namespace: string, name: string): string[] {
  return r.dataSources.list().filter((ds) => {
    const c = claimOfDataSource(ds, r);
    return c?.namespace === namespace && c.name === name;
  }).map(keyOf);
}

/** DataVolumes to reconcile when a claim changes: its controller and the clones waiting on it. */
export function dataVolumesForClaim(r: CdiReader, claim: KubernetesObject): string[] {
  const { namespace, name } = ref(claim);
  const keys = new Set<string>();
  for (const o of claim.metadata?.ownerReferences ?? []) if (o.kind === 'DataVolume' && o.controller) keys.add(`${namespace}/${o.name}`);
  for (const dv of r.dataVolumes.list()) {
    if (dv.status?.phase === 'Succeeded' || dv.status?.phase === 'Failed') continue;
    const s = transferSource(dv, (ns, n) => r.dataSources.get(ns, n));
    if (s.kind === 'clone' && s.namespace === namespace && s.name === name) keys.add(keyOf(dv));
  }
  return [...keys];
}

/** DataVolumes whose sourceRef names the DataSource, directly or through a pointer to it. */
export function dataVolumesForDataSource(r: CdiReader, ds: DataSource): string[] {
  const { namespace, name } = ref(ds);
  const names = new Set([`${namespace}/${name}`, ...dataSourcesPointingAt(r, ds)]);
  return r.dataVolumes.list().filter((dv) => {
    const s = dv.spec?.sourceRef;
    return s?.kind === 'DataSource' && names.has(`${s.namespace || dv.metadata?.namespace}/${s.name}`);
  }).map(keyOf);
}

/** DataSources whose `spec.source.dataSource` points at the DataSource. */
export function dataSourcesPointingAt(r: CdiReader, ds: DataSource): string[] {
  const { namespace, name } = ref(ds);
  return r.dataSources.list(namespace).filter((p) => {
    const target = p.spec?.source?.dataSource;
    return target && (target.namespace || p.metadata?.namespace) === namespace && target.name === name;
  }).map(keyOf);
}
