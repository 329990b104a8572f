// The simulated CDI DataSource controller (pkg/controller/datasource-controller.go): resolves
// the DataSource (a `spec.source.dataSource` pointer one level), records what it resolved to in
// `status.source`, and keeps its Ready condition: True when the source claim's DataVolume has
// Succeeded (or, without a DataVolume, when the claim is Bound), False with CDI's reasons
// otherwise.
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { RESOURCES } from '../../controller/kube/resources.ts';
import type { SimContext } from '../context.ts';
import { splitKey } from '../../controller/runtime/keys.ts';
import type { DataSource, DataVolume } from '../world.ts';
import { updateConditions, type CdiCondition, type DesiredCondition } from './conditions.ts';
import { jsonEqual, mergePatchFor } from '../merge-patch.ts';
import { resolveDataSource, type DataSourceGetter, type DataSourceSource } from './source.ts';

export interface DataSourceStatus {
  conditions?: CdiCondition[];
  source?: DataSourceSource;
}

/** What the DataSource controller reads: DataSources, DataVolumes and claims by namespace and name. */
export interface CdiLookup {
  dataSource: DataSourceGetter;
  dataVolume: (namespace: string, name: string) => DataVolume | undefined;
  pvc: (namespace: string, name: string) => V1PersistentVolumeClaim | undefined;
}

const ready = (reason: string, message: string, status: 'True' | 'False' = 'False'): DesiredCondition => ({ type: 'Ready', status, reason, message });

/** The Ready condition of a resolved source, and CDI's wording for it. */
export function sourceReadiness(source: DataSourceSource, namespace: string, lookup: CdiLookup): DesiredCondition {
  if (source.pvc) {
    const ns = source.pvc.namespace || namespace;
    const dv = lookup.dataVolume(ns, source.pvc.name);
    if (dv) {
      // CDI: the claim is ready when its DataVolume has Succeeded; otherwise the reason is the DataVolume's phase.
      const phase = dv.status?.phase ?? '';
      return phase === 'Succeeded' ? ready('Ready', 'DataSource is ready to be consumed', 'True') : ready(phase, `Import DataVolume phase ${phase}`);
    }
    const claim = lookup.pvc(ns, source.pvc.name);
    if (!claim) return ready('NotFound', 'PVC not found');
    // A claim without a DataVolume is ready once it is bound; until then the wording is that of
    // CDI's DataVolume Bound condition ("PVC %s Pending").
    const phase = claim.status?.phase ?? 'Pending';
    return phase === 'Bound' ? ready('Ready', 'DataSource is ready to be consumed', 'True') : ready(phase, `PVC ${source.pvc.name} ${phase}`);
  }
  // The simulated cluster has no VolumeSnapshots.
  if (source.snapshot) return ready('NotFound', 'Snapshot not found');
  return ready('NoSource', 'No source PVC set');
}

/** The status CDI's DataSource controller would write. */
export function dataSourceStatus(ds: DataSource, lookup: CdiLookup, nowIso: string): DataSourceStatus {
  const namespace = ds.metadata?.namespace ?? '';
  const resolved = resolveDataSource(ds, lookup.dataSource);
  const source = (resolved.ok ? structuredClone(resolved.source) : {}) as DataSourceSource;
  const condition = resolved.ok ? sourceReadiness(resolved.source, resolved.namespace || namespace, lookup) : ready(resolved.reason, resolved.message);
  // CDI starts the conditions afresh when the resolved source changes, so Ready transitions anew.
  const sameSource = jsonEqual(ds.status?.source ?? {}, source);
  const previous = sameSource ? (ds.status?.conditions as CdiCondition[] | undefined) : undefined;
  return { conditions: updateConditions(previous, [condition], nowIso), source };
}

export function worldLookup(ctx: SimContext): CdiLookup {
  return {
    dataSource: (ns, name) => ctx.world.dataSources.get(ns, name),
    dataVolume: (ns, name) => ctx.world.dataVolumes.get(ns, name),
    pvc: (ns, name) => ctx.world.pvcs.get(ns, name),
  };
}

export async function reconcileDataSource(ctx: SimContext, key: string): Promise<void> {
  const { namespace, name } = splitKey(key);
  const ds = ctx.world.dataSources.get(namespace, name);
  if (!ds || ds.metadata?.deletionTimestamp) return;
  const status = dataSourceStatus(ds, worldLookup(ctx), ctx.clock.iso());
  const patch = mergePatchFor(ds.status ?? {}, status);
  if (!patch) return;
  // The DataSource CRD has no status subresource (CDI's controller updates the whole object), so
  // the status goes with the object, guarded by resourceVersion.
  await ctx.client.mergePatch(RESOURCES.dataSource, { namespace, name }, { metadata: { resourceVersion: ds.metadata?.resourceVersion }, status: patch });
}
