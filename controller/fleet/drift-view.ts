// What the caches say about one fleet's drift: for each running VM its drift findings, its VMI's
// LiveMigratable condition and migrations; and the fleet's imbalance moves. Pure over lookups.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import { classifyChange, type VMShape } from '../core/fleet/classify.ts';
import type { FleetRef } from '../core/fleet/desired.ts';
import { detectDrift, DRIFT_KINDS, type Drift, type DriftKind } from '../core/fleet/drift.ts';
import { isInFlight, type ObservedMigration, type RemediationPlan, type RemediationVM } from '../core/fleet/migration.ts';
import { REVISION_LABEL } from '../core/fleet/names.ts';
import { planRebalance, type RebalancePlan, type RebalanceSpec } from '../core/fleet/rebalance.ts';
import { PLACEMENT_FIELDS } from '../core/kubevirt-defaults.ts';
import { placementOf, placementViolations, type PlacementSpec } from '../core/placement.ts';
import { semanticEqual } from '../core/semantic.ts';
import { conditionOf } from './observe.ts';
import { observeMigration, type Migration } from './remediation.ts';
import type { DriftSummary } from './status.ts';

export interface DriftViewInput {
  fleet: FleetRef;
  /** The fleet template's placement, for the domains rebalancing may use. */
  templatePlacement: PlacementSpec;
  rebalance: RebalanceSpec;
  updateRevision: string;
  vms: readonly { vm: V1VirtualMachine; index: number; restarting: boolean; disrupted: boolean }[];
  vmi: (name: string) => V1VirtualMachineInstance | undefined;
  node: (name: string) => V1Node | undefined;
  nodes: readonly V1Node[];
  migrations: ReadonlyMap<string, readonly Migration[]>;
  /** Created but not yet in the cache, and aborted ones the cache no longer shows, by VM. */
  remembered: ReadonlyMap<string, readonly ObservedMigration[]>;
  /** Our successful migrations that left their VM misplaced (by name). */
  misplaced?: ReadonlySet<string>;
  /** When this process created a migration or first saw it finished: finer than API timestamps. */
  seen?: (name: string) => { createdAt?: number; finishedAt?: number } | undefined;
  desired: (index: number) => VMShape;
  /**
   * Names what `desired` returns (the fleet's uid, generation, revision and image): while it stays
   * the same, a VM object already judged for hand edits is not judged again. The caches replace an
   * object on every change, so the same object is the same VM; a fleet of 10,000 VMs otherwise
   * builds and compares 10,000 desired VMs on every reconcile.
   */
  desiredKey?: string;
  now: number;
}

/** Hand-edit findings of each cached VM object, with the desiredKey they were found against. */
const manualEdits = new WeakMap<V1VirtualMachine, { key: string; index: number; reasons: string[] | undefined }>();

/** The hand edits of a VM at the update revision: how it differs from its desired VM (none: undefined). */
function manualEditOf(input: DriftViewInput, vm: V1VirtualMachine, index: number): string[] | undefined {
  const key = input.desiredKey;
  const known = key === undefined ? undefined : manualEdits.get(vm);
  if (known && known.key === key && known.index === index) return known.reasons;
  const edit = classifyChange(vm, input.desired(index));
  const reasons = edit.kind !== 'none' ? edit.reasons : undefined;
  if (key !== undefined) manualEdits.set(vm, { key, index, reasons });
  return reasons;
}

/** What one VM's cached objects say, apart from its migrations. */
interface VMFindings {
  running: boolean;
  node: V1Node | undefined;
  drift: Drift[];
  liveMigratable: { status: string; reason?: string; message?: string } | undefined;
  /** Whether KubeVirt has copied the VM's placement onto the VMI. */
  propagated: boolean;
}

/**
 * Findings of each cached VM object with the objects they were found from. The caches replace an
 * object on every change, so the same VM, VMI and node objects (and the same hand-edit findings)
 * give the same findings: a reconcile after one event judges again only the VMs it concerns.
 */
const findingsMemo = new WeakMap<V1VirtualMachine, { vmi: V1VirtualMachineInstance | undefined; node: V1Node | undefined; restarting: boolean; manualEdit: string[] | undefined; findings: VMFindings }>();

function findingsOf(vm: V1VirtualMachine, vmi: V1VirtualMachineInstance | undefined, nodeOf: (name: string) => V1Node | undefined, restarting: boolean, manualEdit: string[] | undefined, memo: boolean): VMFindings {
  const nodeName = vmi?.status?.nodeName;
  const nodeObject = nodeName ? nodeOf(nodeName) : undefined;
  const known = memo ? findingsMemo.get(vm) : undefined;
  if (known && known.vmi === vmi && known.node === nodeObject && known.restarting === restarting && known.manualEdit === manualEdit) return known.findings;
  const running = !!vmi && !vmi.metadata?.deletionTimestamp && vmi.status?.phase === 'Running' && !restarting && !vm.metadata?.deletionTimestamp;
  const node = running ? nodeObject : undefined;
  const vmPlacement = placementOf(vm.spec.template?.spec);
  const drift: Drift[] = running
    ? detectDrift({ placement: vmPlacement, node, vmiConditions: vmi?.status?.conditions as never, ...(manualEdit ? { manualEdit } : {}) })
    : manualEdit ? detectDrift({ placement: {}, node: undefined, vmiConditions: undefined, manualEdit }) : [];
  const liveMigratable = conditionOf(vmi?.status?.conditions, 'LiveMigratable') as VMFindings['liveMigratable'];
  const vmiPlacement = placementOf(vmi?.spec);
  const propagated = PLACEMENT_FIELDS.every((f) => semanticEqual(vmPlacement[f], vmiPlacement[f]));
  // Frozen: shared by every reconcile that finds the same objects.
  const findings = { running, node, drift: Object.freeze(drift) as Drift[], liveMigratable, propagated };
  if (memo) findingsMemo.set(vm, { vmi, node: nodeObject, restarting, manualEdit, findings });
  return findings;
}

export interface DriftView {
  vms: RemediationVM[];
  rebalance: RebalancePlan;
  /** LiveMigratable=False reasons, by VM. */
  notMigratableReasons: Map<string, string>;
}

/**
 * Drift is looked for on VMs whose VMI runs (phase Running, not being deleted or restarted);
 * manual edits on any VM at the update revision. Imbalance moves go to running VMs with no other
 * drift and nothing migrating them.
 */
export function driftView(input: DriftViewInput): DriftView {
  const out: RemediationVM[] = [];
  const notMigratableReasons = new Map<string, string>();
  const rebalanceVMs: { name: string; index: number; domain: string | undefined; movable: boolean }[] = [];
  for (const { vm, index, restarting, disrupted } of input.vms) {
    const name = vm.metadata!.name!;
    const vmi = input.vmi(name);
    const atRevision = vm.metadata?.labels?.[REVISION_LABEL] === input.updateRevision && !vm.metadata?.deletionTimestamp;
    const manualEdit = atRevision ? manualEditOf(input, vm, index) : undefined;
    const { running, node, drift, liveMigratable: lm, propagated } = findingsOf(vm, vmi, input.node, restarting, manualEdit, input.desiredKey !== undefined);
    const cached = (vmi ? input.migrations.get(name) ?? [] : []).map((m) => {
      const o = observeMigration(m, input.fleet);
      const local = input.seen?.(o.name);
      if (local?.createdAt !== undefined) o.createdAt = Math.max(o.createdAt, local.createdAt);
      if (local?.finishedAt !== undefined && o.finishedAt !== undefined) o.finishedAt = Math.max(o.finishedAt, local.finishedAt);
      return input.misplaced?.has(o.name) ? { ...o, misplaced: true } : o;
    });
    const remembered = input.remembered.get(name);
    const migrations = remembered ? [...cached, ...remembered.filter((r) => !cached.some((m) => m.name === r.name))] : cached;
    const state = vmi?.status?.migrationState;
    const stateInFlight = !!state && !state.completed && !cached.some((m) => m.uid === state.migrationUid && !isInFlight(m));
    // The migration cache can run ahead of the VMI cache: a newest migration that succeeded while
    // the VMI still shows another state (or an unfinished one) has not moved the cached VMI yet.
    const newest = cached.length < 2 ? cached[0] : [...cached].sort((a, b) => b.createdAt - a.createdAt || b.attempt - a.attempt)[0];
    const vmiBehind = newest?.phase === 'Succeeded' && newest.uid !== undefined && (state?.migrationUid !== newest.uid || !state.completed);
    if (lm && lm.status !== 'True') notMigratableReasons.set(name, lm.reason ?? 'LiveMigratable is not True');
    if (running) {
      const movable = lm?.status === 'True' && drift.length === 0 && !stateInFlight && !migrations.some(isInFlight) && !disrupted;
      rebalanceVMs.push({ name, index, domain: node?.metadata?.labels?.[input.rebalance.topologyKey], movable });
    }
    // KubeVirt patches a changed placement onto the VMI; a migration before that would pick its target by the old one.
    out.push({
      name,
      index,
      drift,
      ...(running && !propagated ? { notYet: "waiting for KubeVirt to apply the VM's placement to the VMI" } : {}),
      liveMigratable: { status: lm?.status === 'True', ...(lm?.reason ? { reason: lm.reason } : {}), ...(lm?.message ? { message: lm.message } : {}) },
      migrations,
      migrationStateInFlight: stateInFlight || vmiBehind,
      disrupted,
    });
  }

  const domains = new Set<string>();
  if (input.rebalance.enabled) {
    for (const node of input.nodes) {
      const value = node.metadata?.labels?.[input.rebalance.topologyKey];
      if (value !== undefined && placementViolations(input.templatePlacement, node).length === 0) domains.add(value);
    }
  }
  const lastMove = Math.max(-Infinity, ...out.flatMap((vm) => vm.migrations.filter((m) => m.ours && m.reason === 'imbalance').map((m) => m.createdAt)));
  const rebalance = planRebalance({
    spec: input.rebalance,
    domains: [...domains].sort(),
    vms: rebalanceVMs,
    ...(Number.isFinite(lastMove) ? { lastMoveAt: lastMove } : {}),
    now: input.now,
  });
  for (const move of rebalance.moves) {
    const vm = out.find((v) => v.name === move.vm)!;
    vm.drift = [...vm.drift, { kind: 'imbalance', detail: move.to, message: move.message }];
    vm.addedNodeSelector = { [input.rebalance.topologyKey]: move.to };
  }
  return { vms: out, rebalance, notMigratableReasons };
}

const CONDITION_REASONS: Record<DriftKind, string> = { placement: 'PlacementDrift', pendingLiveUpdate: 'PendingLiveUpdate', manualEdit: 'ManualEdit', imbalance: 'Imbalance' };
const MAX_NAMED = 5;

/** Status fields and the Drifted condition for one reconcile's findings and remedies. */
export function driftSummary(view: DriftView, plan: RemediationPlan, restartsAllowed: boolean): DriftSummary {
  const byKind = { placement: 0, pendingLiveUpdate: 0, manualEdit: 0, imbalance: view.rebalance.excess, obsoleteImage: 0, notMigratable: plan.notMigratable.length };
  const drifting = view.vms.filter((vm) => vm.drift.some((d) => d.kind !== 'imbalance'));
  for (const vm of drifting) for (const d of vm.drift) if (d.kind !== 'imbalance') byKind[d.kind]++;
  const drifted = drifting.length + view.rebalance.excess;
  const migrating = plan.migrating.length;
  const repairing = migrating > 0 || plan.actions.length > 0 || plan.reports.some((r) => r.remedy === 'LiveMigration' || r.remedy === 'Revert' || (r.remedy === 'Restart' && restartsAllowed));
  if (drifted === 0) return { drifted, byKind, migrating, repairing };
  const main = DRIFT_KINDS.find((k) => byKind[k] > 0)!;
  const kinds = DRIFT_KINDS.filter((k) => byKind[k] > 0).map((k) => `${k} ${byKind[k]}`).join(', ');
  const names = drifting.map((vm) => vm.name);
  const named = names.length > MAX_NAMED ? `${names.slice(0, MAX_NAMED).join(', ')} and ${names.length - MAX_NAMED} more` : names.join(', ');
  const stuck = plan.notMigratable.map((name) => `${name} (${view.notMigratableReasons.get(name) ?? 'not live-migratable'})`).join(', ');
  const message = `${drifted} VMs drifted (${kinds})${named ? `: ${named}` : ''}; ${migrating} migrating${stuck ? `; not live-migratable: ${stuck}` : ''}`;
  return { drifted, byKind, migrating, repairing, reason: CONDITION_REASONS[main], message };
}

/** How one of our finished migrations ended, judged from the same snapshot as the drift. */
export interface MigrationOutcome {
  vm: string;
  migration: string;
  finishedAt: number;
  verdict: 'succeeded' | 'misplaced' | 'failed';
  /** Where the VMI runs now (succeeded, misplaced). */
  node?: string;
  /** The placement drift still found (misplaced), or the failure reason (failed). */
  message?: string;
}

/**
 * Verdicts on our finished migrations. A success is judged once the VMI shows it completed: a VM
 * still drifting then landed wrong. The VMI and the drift come from one snapshot; judged against a
 * VMI read later, a drift found before the move would brand a good migration misplaced (and retry it).
 */
export function migrationOutcomes(view: DriftView, vmi: (name: string) => V1VirtualMachineInstance | undefined): MigrationOutcome[] {
  const outcomes: MigrationOutcome[] = [];
  for (const vm of view.vms) {
    const current = vmi(vm.name);
    const state = current?.status?.migrationState;
    const node = current?.status?.nodeName;
    for (const m of vm.migrations) {
      if (!m.ours || m.uid === undefined || m.finishedAt === undefined) continue;
      const base = { vm: vm.name, migration: m.name, finishedAt: m.finishedAt };
      if (m.phase !== 'Succeeded') {
        outcomes.push({ ...base, verdict: 'failed', ...(m.failureReason ? { message: m.failureReason } : {}) });
        continue;
      }
      const landed = state?.migrationUid === m.uid;
      if ((landed && !state.completed) || vm.migrationStateInFlight) continue; // the VMI has not caught up yet
      const still = vm.drift.find((d) => d.kind === 'placement');
      outcomes.push(still && landed
        ? { ...base, verdict: 'misplaced', message: still.message, ...(node ? { node } : {}) }
        : { ...base, verdict: 'succeeded', ...(node ? { node } : {}) });
    }
  }
  return outcomes;
}
