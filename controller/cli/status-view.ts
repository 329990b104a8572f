// What `virtfleet status` shows, from objects read from the cluster: fleets (desired, ready,
// updated, drifted by kind, migrating, image, conditions), one fleet's VMs (node, revision, state,
// drift, the migration under way), one GoldenImage (versions with phase and use, channels). Pure.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import { FLEET_LABEL, REVISION_LABEL } from '../core/fleet/names.ts';
import { DRIFT_ANNOTATION, type Migration } from '../fleet/remediation.ts';
import { columns } from './plan-output.ts';

export interface FleetRow {
  namespace: string;
  name: string;
  desired: number;
  ready: number;
  updated: number;
  drifted: number;
  driftedByKind: Record<string, number>;
  migrating: number;
  image: string;
  imageVersions: { version: string; replicas: number }[];
  /** Progressing, Stalled and Drifted as `Type=Status Reason: message`. */
  conditions: { type: string; status: string; reason: string; message: string }[];
  /** A rollout or migration wave runs: watch keeps drawing. */
  busy: boolean;
}

export interface VMRow {
  name: string;
  node: string;
  revision: string;
  updated: boolean;
  state: string;
  drift: string;
  migration: string;
}

export function fleetRow(fleet: VMFleet): FleetRow {
  const s = fleet.status ?? {};
  const conditions = (s.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message }));
  const progressing = conditions.find((c) => c.type === 'Progressing');
  const reconciling = conditions.find((c) => c.type === 'Reconciling');
  const stale = (fleet.metadata?.generation ?? 0) > (s.observedGeneration ?? 0);
  return {
    namespace: fleet.metadata!.namespace!, name: fleet.metadata!.name!,
    desired: fleet.spec.replicas ?? 1, ready: s.readyReplicas ?? 0, updated: s.updatedReplicas ?? 0,
    drifted: s.driftedReplicas ?? 0, driftedByKind: Object.fromEntries(Object.entries(s.driftedReplicasByKind ?? {}).filter(([, n]) => (n ?? 0) > 0)) as Record<string, number>,
    migrating: s.migratingReplicas ?? 0, image: s.imageSummary ?? s.imageVersion ?? '', imageVersions: s.imageVersions ?? [],
    conditions,
    busy: stale || reconciling?.status === 'True' || (s.migratingReplicas ?? 0) > 0 || (progressing?.status === 'True' && progressing.reason !== 'NewRevisionAvailable'),
  };
}

export function vmRows(vms: readonly V1VirtualMachine[], vmis: readonly V1VirtualMachineInstance[], migrations: readonly Migration[], updateRevision: string | undefined): VMRow[] {
  const vmiOf = new Map(vmis.map((i) => [i.metadata!.name!, i]));
  return vms.map((vm) => {
    const name = vm.metadata!.name!;
    const vmi = vmiOf.get(name);
    const revision = vm.metadata?.labels?.[REVISION_LABEL] ?? '';
    const inFlight = migrations.filter((m) => m.spec?.vmiName === name && !['Succeeded', 'Failed'].includes(m.status?.phase ?? '')).sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
    const m = inFlight.at(-1);
    const state = vm.metadata?.deletionTimestamp ? 'Deleting' : vm.status?.printableStatus ?? 'Unknown';
    return {
      name, node: vmi?.status?.nodeName ?? '', revision, updated: !!updateRevision && revision === updateRevision, state: `${state}${vm.status?.ready ? '' : ' (not ready)'}`,
      drift: vm.metadata?.annotations?.[DRIFT_ANNOTATION] ?? '',
      migration: m ? `${m.metadata!.name} ${m.status?.phase || 'Pending'}${vmi?.status?.migrationState?.targetNode ? ` → ${vmi.status.migrationState.targetNode}` : ''}` : '',
    };
  }).sort((a, b) => index(a.name) - index(b.name) || a.name.localeCompare(b.name));
}

const index = (name: string) => Number(/-(\d+)$/.exec(name)?.[1] ?? Number.NaN);

export const ownedVMs = (vms: readonly V1VirtualMachine[], fleet: VMFleet) => vms.filter((vm) => vm.metadata?.labels?.[FLEET_LABEL] === fleet.metadata?.name);

/** `[#####-----] 2/6`: a bar of `width` cells. */
export function progressBar(done: number, total: number, width = 20): string {
  const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : width;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`;
}

const driftText = (r: FleetRow) => (r.drifted > 0 ? `${r.drifted} (${Object.entries(r.driftedByKind).map(([k, n]) => `${k} ${n}`).join(', ')})` : '0');

export function renderFleets(rows: readonly FleetRow[], allNamespaces: boolean): string {
  if (rows.length === 0) return 'No VMFleets found.\n';
  const head = [...(allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'DESIRED', 'READY', 'UPDATED', 'DRIFTED', 'MIGRATING', 'IMAGE', 'PROGRESSING'];
  const body = rows.map((r) => {
    const p = r.conditions.find((c) => c.type === 'Progressing');
    const stalled = r.conditions.find((c) => c.type === 'Stalled' && c.status === 'True');
    return [...(allNamespaces ? [r.namespace] : []), r.name, String(r.desired), String(r.ready), String(r.updated), driftText(r), String(r.migrating), r.image, stalled ? `Stalled ${stalled.reason}` : p ? `${p.status} ${p.reason}` : ''];
  });
  return `${columns([head, ...body]).join('\n')}\n`;
}

export function renderFleet(row: FleetRow, vms: readonly VMRow[], bar: boolean): string {
  const out = [
    `VMFleet ${row.namespace}/${row.name}: ${row.ready}/${row.desired} ready, ${row.updated}/${row.desired} updated, ${driftText(row)} drifted, ${row.migrating} migrating`,
    `image ${row.image}${row.imageVersions.length > 1 ? ` (${row.imageVersions.map((v) => `${v.version}: ${v.replicas}`).join(', ')})` : ''}`,
  ];
  if (bar) out.push(`rollout ${progressBar(row.updated, row.desired)}`);
  for (const c of row.conditions.filter((x) => ['Progressing', 'Stalled', 'Drifted', 'Reconciling'].includes(x.type))) out.push(`${c.type}=${c.status} ${c.reason}: ${c.message}`);
  out.push('', ...columns([['VM', 'NODE', 'REVISION', 'STATE', 'MIGRATION', 'DRIFT'], ...vms.map((v) => [v.name, v.node || '-', `${v.revision}${v.updated ? '' : ' (old)'}`, v.state, v.migration || '-', v.drift || '-'])]));
  return `${out.join('\n')}\n`;
}

export function renderImage(image: GoldenImage): string {
  const s = image.status ?? {};
  const out = [`GoldenImage ${image.metadata!.namespace}/${image.metadata!.name}`];
  out.push(...columns([['VERSION', 'PHASE', 'USED BY'], ...(s.versions ?? []).map((v) => {
    return [v.name, v.phase, v.usedBy === undefined ? '-' : `${v.usedBy} VM(s)`];
  })]));
  out.push('', ...columns([['CHANNEL', 'VERSION', 'SINCE'], ...(s.channels ?? []).map((c) => [c.name, c.version ?? '-', c.since ?? '-'])]));
  for (const c of (s.conditions ?? []).filter((x) => x.status !== 'False' || x.type === 'Ready')) out.push(`${c.type}=${c.status} ${c.reason}: ${c.message}`);
  return `${out.join('\n')}\n`;
}
