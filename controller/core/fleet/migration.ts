// The remedy planner for drift (README "How drift is repaired", and "Safety invariants" 2,
// 5 and 7): which drifted VMs are live-migrated now, which migrations are aborted, which VMs fall
// back to a restart or are only reported, and which hand edits are reverted. Pure: the shell
// observes VMs and migrations, this decides, the shell creates and deletes.
import type { VMFleetSpec } from '../../api/generated/types.ts';
import { parseDuration } from '../duration.ts';
import type { Drift, DriftKind } from './drift.ts';

export const MIGRATION_FINAL_PHASES = ['Succeeded', 'Failed'];

/** One VirtualMachineInstanceMigration of a VMI, as the shell observes it. */
export interface ObservedMigration {
  name: string;
  /** status.phase ('' before KubeVirt admits it). */
  phase: string;
  /** Created by this fleet (labelled with it); others' are KubeVirt's or a user's. */
  ours: boolean;
  /** Our attempt number (label), 0 for others'. */
  attempt: number;
  /** The drift kind it repairs (label), for ours. */
  reason?: DriftKind;
  createdAt: number;
  uid?: string;
  /** When it reached Succeeded or Failed (or was aborted), epoch ms. */
  finishedAt?: number;
  /** deletionTimestamp set: being aborted (or garbage-collected when finished). */
  deleting: boolean;
  failureReason?: string;
  /** Succeeded, yet the VM still drifted when it landed (the shell verifies once): counts as failed. */
  misplaced?: boolean;
}

export const isInFlight = (m: ObservedMigration): boolean => !MIGRATION_FINAL_PHASES.includes(m.phase);

export interface RemediationSpec {
  migrationEnabled: boolean;
  maxConcurrent: number;
  timeoutMs: number;
  fallback: 'Restart' | 'None';
  manualEdits: 'Revert' | 'Report';
}

/** The planner's view of spec.remediation, with the schema's defaults. */
export function remediationSpecOf(spec: VMFleetSpec): RemediationSpec {
  const r = spec.remediation;
  return {
    migrationEnabled: r?.liveMigration?.enabled ?? true,
    maxConcurrent: r?.liveMigration?.maxConcurrent ?? 2,
    timeoutMs: parseDuration(r?.liveMigration?.timeout ?? '30m'),
    fallback: r?.liveMigration?.fallback ?? 'None',
    manualEdits: r?.manualEdits ?? 'Revert',
  };
}

/** Retry delays after failed migrations of one VM: base, 2 × base, 4 × base, … up to max. */
export interface Backoff {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 10_000, maxMs: 5 * 60_000 };

export function backoffDelay(failures: number, backoff: Backoff): number {
  if (failures <= 0) return 0;
  return Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(failures - 1, 30));
}

/** One running VM of the fleet with its drift and its VMI's migrations. */
export interface RemediationVM {
  name: string;
  index: number;
  /** detectDrift's findings plus imbalance moves (with `targetDomain`). */
  drift: readonly Drift[];
  /** For an imbalance move: the node selector that sends it to an emptier topology domain. */
  addedNodeSelector?: Record<string, string>;
  /** LiveMigratable condition of the VMI. */
  liveMigratable: { status: boolean; reason?: string; message?: string };
  /** Every migration of the VMI in the cache (plus aborted ones the shell remembers). */
  migrations: readonly ObservedMigration[];
  /**
   * The VMI's migrationState says a migration runs that the cache has not shown (yet), or the VMI
   * cache has not caught up with a migration that succeeded: treated as in flight.
   */
  migrationStateInFlight: boolean;
  /** The rollout is restarting, recreating or deleting this VM: no remedy on top of that. */
  disrupted: boolean;
  /**
   * Why a migration would go wrong now, e.g. KubeVirt has not yet patched the VM's new placement
   * onto the VMI (the target would be chosen by the old one): no migration until it clears.
   */
  notYet?: string;
}

export interface RemediationInput {
  fleet: string;
  spec: RemediationSpec;
  backoff: Backoff;
  /** Restarts are allowed now (the disruption window is open). */
  restartsAllowed: boolean;
  /** Migrations the cluster-wide budget still admits (budget − every in-flight migration). */
  clusterSlots: number;
  now: number;
  vms: readonly RemediationVM[];
}

export type RemedyKind = 'LiveMigration' | 'Restart' | 'None' | 'Revert' | 'Report';

/** A new migration of one VM, named for its attempt. */
export interface MigrateAction { type: 'Migrate'; vm: string; name: string; attempt: number; reason: DriftKind; addedNodeSelector?: Record<string, string>; message: string }

export type RemediationAction =
  | MigrateAction
  | { type: 'Abort'; vm: string; name: string; message: string }
  | { type: 'Revert'; vm: string; index: number; message: string };

/** What the fleet reports about one drifted VM. */
export interface DriftReport {
  vm: string;
  drift: readonly Drift[];
  remedy: RemedyKind;
  /** Why the remedy is what it is, or what it waits for. */
  note: string;
}

export interface RemediationPlan {
  actions: RemediationAction[];
  /** VMs the fallback restarts; the rollout planner fits them into maxUnavailable. */
  restarts: { vm: string; message: string }[];
  reports: DriftReport[];
  /** VMs with a migration in flight (anyone's). */
  migrating: string[];
  /** Drifted VMs whose VMI is not live-migratable. */
  notMigratable: string[];
  /** When a backoff or a timeout expires: plan again then, epoch ms. */
  nextCheckAt?: number;
  /** Migrations held back by the fleet's or the cluster's budget. */
  waitingForBudget: number;
  /**
   * The first of those held back (at most maxConcurrent), in the order they would get slots, as
   * the Migrate actions they would be: what a slot freed before the next plan goes to.
   */
  standby: MigrateAction[];
}

/** The name of attempt `attempt` to migrate `vmi`: deterministic, so a restarted controller finds it. */
export function migrationName(vmi: string, attempt: number): string {
  return `${vmi}-migrate-${attempt}`;
}

function attemptInName(vmi: string, name: string): number {
  const prefix = `${vmi}-migrate-`;
  return name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length)) ? Number(name.slice(prefix.length)) : 0;
}

/** Urgency of a drift for ordering new migrations: draining or cordoned nodes first. */
function urgency(drift: readonly Drift[]): number {
  const placement = drift.find((d) => d.kind === 'placement');
  if (placement) return placement.detail === 'DrainTaint' || placement.detail === 'Unschedulable' ? 0 : 1;
  if (drift.some((d) => d.kind === 'pendingLiveUpdate')) return 2;
  return 3;
}

/**
 * Consecutive failures of our migrations of a VM, newest first, until one that succeeded. A
 * success that left the VM misplaced counts as a failure: it landed wrong.
 */
function consecutiveFailures(vm: RemediationVM): { failures: number; lastAt?: number } {
  const ours = vm.migrations.filter((m) => m.ours && !isInFlight(m)).sort((a, b) => b.attempt - a.attempt);
  let failures = 0;
  let lastAt: number | undefined;
  for (const m of ours) {
    if (m.phase !== 'Failed' && !m.misplaced) break;
    failures++;
    lastAt ??= m.finishedAt ?? m.createdAt;
  }
  return { failures, ...(lastAt !== undefined ? { lastAt } : {}) };
}

const migrationDrifts: readonly DriftKind[] = ['placement', 'pendingLiveUpdate', 'imbalance'];

/**
 * Plans remedies. Rules:
 * - A VM with any migration in flight (ours, KubeVirt's, a user's, or one its migrationState
 *   shows) gets no new migration (invariant 7, and one per VMI); ours past `timeoutMs` since
 *   creation is aborted (deleted), once.
 * - Invariant 2: new migrations ≤ maxConcurrent − in-flight migrations of the fleet's VMIs, and
 *   ≤ clusterSlots. Most urgent first (draining/cordoned, other placement, pending live update,
 *   imbalance), then fewest failures, then lowest index.
 * - After our migration fails (or succeeds yet leaves the VM misplaced), the next waits
 *   backoffDelay(failures) from its end.
 * - Names are `<vmi>-migrate-<attempt>`, attempt = 1 + the highest of ours observed (invariant
 *   5: a re-plan from the same observation names the same object).
 * - Not live-migratable (or migration disabled): fallback Restart when restarts are allowed
 *   (the rollout planner fits it into maxUnavailable), else only reported.
 * - Manual edits: Revert re-applies the desired spec; Report only reports.
 * - A VM the rollout disrupts gets no remedy: never a migration and a restart at once; one with
 *   `notYet` set waits (its drift is reported).
 */
export function planRemediation(input: RemediationInput): RemediationPlan {
  const { spec, now } = input;
  const plan: RemediationPlan = { actions: [], restarts: [], reports: [], migrating: [], notMigratable: [], waitingForBudget: 0, standby: [] };
  const wake = (at: number) => {
    plan.nextCheckAt = Math.min(plan.nextCheckAt ?? Infinity, Math.max(at, now + 1));
  };
  const fleetInFlight = input.vms.filter((vm) => vm.migrationStateInFlight || vm.migrations.some(isInFlight)).length;
  let fleetSlots = Math.max(0, spec.maxConcurrent - fleetInFlight);
  let clusterSlots = Math.max(0, input.clusterSlots);

  const candidates: { vm: RemediationVM; failures: number; report: DriftReport }[] = [];
  for (const vm of input.vms) {
    const inFlight = vm.migrations.filter(isInFlight);
    if (inFlight.length > 0 || vm.migrationStateInFlight) plan.migrating.push(vm.name);
    for (const m of inFlight) {
      if (!m.ours || m.deleting) continue;
      const deadline = m.createdAt + spec.timeoutMs;
      if (now >= deadline) plan.actions.push({ type: 'Abort', vm: vm.name, name: m.name, message: `migration ${m.name} still ${m.phase || 'unadmitted'} after ${Math.round(spec.timeoutMs / 1000)}s: aborted` });
      else wake(deadline);
    }
    if (vm.drift.length === 0 || vm.disrupted) continue;

    const manual = vm.drift.find((d) => d.kind === 'manualEdit');
    if (manual) {
      if (spec.manualEdits === 'Revert') plan.actions.push({ type: 'Revert', vm: vm.name, index: vm.index, message: manual.message });
    }
    const needsMove = vm.drift.filter((d) => migrationDrifts.includes(d.kind));
    if (needsMove.length === 0) {
      plan.reports.push({ vm: vm.name, drift: vm.drift, remedy: spec.manualEdits, note: spec.manualEdits === 'Revert' ? 'the template is re-applied' : 'reported only (manualEdits: Report)' });
      continue;
    }
    const report: DriftReport = { vm: vm.name, drift: vm.drift, remedy: 'LiveMigration', note: '' };
    plan.reports.push(report);
    if (inFlight.length > 0 || vm.migrationStateInFlight) {
      const current = inFlight.find((m) => m.ours);
      report.note = current ? `migration ${current.name} in flight` : 'waiting for a migration started by KubeVirt or a user';
      continue;
    }
    if (vm.notYet) {
      report.note = vm.notYet;
      continue;
    }
    if (!spec.migrationEnabled || !vm.liveMigratable.status) {
      const why = !spec.migrationEnabled ? 'live migration is disabled for this fleet' : `not live-migratable (${vm.liveMigratable.reason ?? 'LiveMigratable is not True'})`;
      if (vm.liveMigratable.status === false) plan.notMigratable.push(vm.name);
      report.remedy = spec.fallback;
      if (spec.fallback === 'Restart' && input.restartsAllowed) {
        report.note = `${why}: restarted instead`;
        plan.restarts.push({ vm: vm.name, message: `${why}: restart to repair ${needsMove.map((d) => d.kind).join(', ')}` });
      } else {
        report.note = spec.fallback === 'Restart' ? `${why}: the restart waits for the disruption window` : `${why}: reported only (fallback None)`;
      }
      continue;
    }
    const { failures, lastAt } = consecutiveFailures(vm);
    if (failures > 0 && lastAt !== undefined) {
      const retryAt = lastAt + backoffDelay(failures, input.backoff);
      if (now < retryAt) {
        report.note = `retry after ${failures} failed migration${failures > 1 ? 's' : ''} in ${Math.ceil((retryAt - now) / 1000)}s`;
        wake(retryAt);
        continue;
      }
    }
    candidates.push({ vm, failures, report });
  }

  candidates.sort((a, b) => urgency(a.vm.drift) - urgency(b.vm.drift) || a.failures - b.failures || a.vm.index - b.vm.index);
  for (const { vm, report } of candidates) {
    // Above every attempt of ours, and above anyone's migration that happens to use our naming.
    const attempt = 1 + Math.max(0, ...vm.migrations.map((m) => (m.ours ? m.attempt : attemptInName(vm.name, m.name))));
    const first = vm.drift.find((d) => migrationDrifts.includes(d.kind))!;
    const name = migrationName(vm.name, attempt);
    const action: MigrateAction = { type: 'Migrate', vm: vm.name, name, attempt, reason: first.kind, ...(vm.addedNodeSelector ? { addedNodeSelector: vm.addedNodeSelector } : {}), message: `${first.kind}: ${first.message}` };
    if (fleetSlots <= 0 || clusterSlots <= 0) {
      report.note = fleetSlots <= 0 ? `waiting: ${spec.maxConcurrent} migrations of the fleet in flight (maxConcurrent)` : 'waiting: the cluster-wide migration budget is used up';
      plan.waitingForBudget++;
      if (plan.standby.length < spec.maxConcurrent) plan.standby.push(action);
      continue;
    }
    fleetSlots--;
    clusterSlots--;
    report.note = `migration ${name} started`;
    plan.actions.push(action);
  }
  return plan;
}
