// The report `virtfleet plan` prints: a table for people, or one stable document (-o json|yaml)
// whose shape docs/plan.md describes. Pure.
import { stringify } from 'yaml';
import type { Estimates, FleetPlan, VMAction } from './preview.ts';
import { VM_ACTIONS } from './preview.ts';
import type { PlanOutput } from './outputs.ts';
import type { Promotion } from './promotion.ts';

/** What a GoldenImage change does to the image itself (channels moved, version phases changed). */
export interface ImageChange {
  namespace: string;
  name: string;
  exists: boolean;
  channels: { name: string; from?: string; to?: string }[];
  versions: { name: string; from?: string; to?: string }[];
  /** Following channels the change leaves behind the channel they follow: when each catches up, or why not. */
  promotions: Promotion[];
  /** The fleets planned because they use this image: namespace/name. */
  fleets: string[];
}

export interface PlanReport {
  apiVersion: 'virtfleet.io/v1alpha1';
  kind: 'Plan';
  /** Anything would change: --exit-code exits 1 then. */
  changes: boolean;
  estimates: Estimates;
  images: ImageChange[];
  fleets: FleetPlan[];
}

export function planReport(fleets: FleetPlan[], images: ImageChange[], estimates: Estimates): PlanReport {
  const changes = fleets.some((f) => !f.exists || f.summary.changed > 0) || images.some((i) => !i.exists || i.channels.length > 0 || i.versions.length > 0);
  return { apiVersion: 'virtfleet.io/v1alpha1', kind: 'Plan', changes, estimates, images, fleets };
}

export function renderPlan(report: PlanReport, output: PlanOutput): string {
  if (output === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (output === 'yaml') return stringify(report);
  return renderTable(report);
}

/** `1m40s`, `40s`, `2h5m`. */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return h > 0 ? `${h}h${m > 0 ? `${m}m` : ''}` : `${m}m${rest > 0 ? `${rest}s` : ''}`;
}

const ACTION_WORDS: Record<VMAction, string> = {
  none: 'none', metadataPatch: 'metadata patch', liveUpdate: 'live update', liveMigration: 'live migration',
  restart: 'restart', create: 'create', diskRecreate: 'disk recreate', delete: 'delete',
};

/** Rows as columns padded to their widest cell; the last column is not padded. */
export function columns(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('   ').trimEnd());
}

function renderTable(report: PlanReport): string {
  const out: string[] = [];
  for (const image of report.images) {
    out.push(`GoldenImage ${image.namespace}/${image.name}${image.exists ? '' : ' (created)'}`);
    for (const c of image.channels) out.push(`  channel ${c.name}: ${c.from ?? '(none)'} → ${c.to ?? '(none)'}`);
    for (const v of image.versions) out.push(`  version ${v.name}: ${v.from ?? '(unrecorded)'} → ${v.to ?? '(unrecorded)'}`);
    if (image.channels.length === 0 && image.versions.length === 0) out.push('  no channel or version phase changes');
    for (const p of image.promotions) out.push(`  channel ${p.channel} (follows ${p.follows}) stays at ${p.stays ?? '(none)'}: ${p.forecast}`);
    out.push(`  fleets using it: ${image.fleets.length > 0 ? image.fleets.join(', ') : 'none'}`);
    out.push('');
  }
  for (const fleet of report.fleets) {
    const head = `VMFleet ${fleet.namespace}/${fleet.name}${fleet.exists ? '' : ' (created)'}`;
    out.push(`${head}${fleet.imageVersion ? `: image ${fleet.imageVersion}` : ''}${fleet.updateRevision ? `, revision ${fleet.updateRevision}` : ''}`);
    if (fleet.state !== 'Planned') {
      out.push(`  ${fleet.state}: ${fleet.message ?? ''}`, '');
      continue;
    }
    if (fleet.channelWaits) out.push(`  channel ${fleet.channelWaits.channel} stays at ${fleet.channelWaits.stays ?? '(none)'}: ${fleet.channelWaits.forecast}`);
    const held = new Map(fleet.held.map((h) => [h.vm, h]));
    out.push(...columns([
      ['VM', 'ACTION', 'WAVE', 'REASON'],
      ...fleet.vms.map((vm) => [vm.name, ACTION_WORDS[vm.action], vm.wave === undefined ? '-' : String(vm.wave), held.has(vm.name) ? `waits at revision ${held.get(vm.name)!.revision ?? '?'}: ${vm.reason}` : vm.reason]),
    ]).map((l) => `  ${l}`));
    if (fleet.waves.length > 0) {
      out.push('  waves:');
      for (const w of fleet.waves) out.push(`    ${w.index}. at ${duration(w.startsAtSeconds)}, ~${duration(w.durationSeconds)}: ${w.actions.map((a) => `${a.vm} ${ACTION_WORDS[a.action]}`).join(', ')}`);
    }
    const counts = VM_ACTIONS.filter((a) => fleet.summary.actions[a] > 0).map((a) => `${fleet.summary.actions[a]} ${ACTION_WORDS[a]}`).join(', ');
    out.push(`  summary: ${counts || 'no VMs'}; ${fleet.summary.waves} wave(s); makespan at least ${duration(fleet.summary.makespanSeconds)}`, '');
  }
  if (report.fleets.some((f) => f.summary.waves > 0)) {
    out.push(`times: restart ${duration(report.estimates.restartSeconds)} (${report.estimates.basis.restart}), live migration ${duration(report.estimates.migrationSeconds)} (${report.estimates.basis.migration})`);
  }
  out.push(report.changes ? 'changes: yes' : 'changes: none');
  return `${out.join('\n')}\n`;
}
