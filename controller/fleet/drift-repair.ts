// Drift repair for the fleet reconciler: observes drift from the caches, plans remedies with the
// pure core (core/fleet/drift.ts, migration.ts, rebalance.ts), and carries out migrations,
// aborts and reverts, keeps each VM's drift annotation current, and records Events. It holds the
// little memory a level-triggered loop needs beyond the caches: aborted migrations (for backoff),
// reverts made, outcomes told, and when migrations were seen.
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { desiredVM, FLEET_API_VERSION, FLEET_KIND, type FleetRef } from '../core/fleet/desired.ts';
import type { ResolvedImage } from '../core/fleet/image.ts';
import { DEFAULT_BACKOFF, MIGRATION_FINAL_PHASES, planRemediation, remediationSpecOf, type Backoff, type ObservedMigration, type RemediationAction, type RemediationPlan } from '../core/fleet/migration.ts';
import { rebalanceSpecOf } from '../core/fleet/rebalance.ts';
import type { ObservedVM } from '../core/fleet/rollout.ts';
import { ApiError, type KubeClient } from '../kube/client.ts';
import { placementOf } from '../core/placement.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { Logger } from '../runtime/logger.ts';
import { inParallel } from '../runtime/parallel.ts';
import { driftSummary, driftView, type DriftView } from './drift-view.ts';
import { listNames, type EventRecorder, type InvolvedObject } from './events.ts';
import type { FleetCaches, VMFleet } from './reconciler.ts';
import { DRIFT_ANNOTATION, driftAnnotation, migrationObject, migrationsByVmi, type MigrationBudget } from './remediation.ts';
import type { DriftSummary } from './status.ts';

/** How long finished migrations are remembered (aborts for backoff, outcomes told, times seen). */
const MEMORY_MS = 60 * 60_000;

export interface Remediation {
  plan: RemediationPlan;
  view: DriftView;
  drift: DriftSummary;
  /**
   * New migrations wait for the cluster's budget (others' migrations), not for the fleet's own
   * maxConcurrent, whose migrations' events would bring the fleet back: look again soon.
   */
  pollBudget: boolean;
}

export interface DriftRepairOptions {
  client: KubeClient;
  caches: FleetCaches;
  events: EventRecorder;
  log: Logger;
  /** The cluster-wide migration budget, shared with every other fleet's reconciles. */
  budget: MigrationBudget;
  /** The field manager a revert applies with (the reconciler's). */
  fieldManager: string;
  backoff?: Backoff;
  now?: () => number;
}

export function fleetRef(fleet: VMFleet): FleetRef {
  return { name: fleet.metadata!.name!, namespace: fleet.metadata!.namespace!, uid: fleet.metadata!.uid! };
}

export class DriftRepair {
  /** VM key → migrations of ours this controller aborted, for backoff once the cache drops them. */
  private readonly aborted = new Map<string, ObservedMigration[]>();
  /** VM key → the resourceVersion our revert left it at: a drift still there then is not ours to fix. */
  private readonly reverted = new Map<string, string>();
  /** Finished migrations of ours whose outcome was verified and told (ns/name → when). */
  private readonly reported = new Map<string, number>();
  /** Ours that succeeded yet left the VM drifting when it landed (ns/name → when): failures for backoff. */
  private readonly misplaced = new Map<string, number>();
  /**
   * When this process created a migration or first saw it finished (ns/name → epoch ms): API
   * timestamps have one-second precision, too coarse for timeouts and backoff.
   */
  private readonly seen = new Map<string, { since: number; createdAt?: number; finishedAt?: number }>();
  private readonly startedAt: number;
  private readonly o: Required<DriftRepairOptions>;

  constructor(options: DriftRepairOptions) {
    this.o = { now: Date.now, backoff: DEFAULT_BACKOFF, ...options };
    this.startedAt = this.o.now();
  }

  /** Reserves cluster budget for the plan's new migrations; call before the first await. */
  reserve(key: string, namespace: string, plan: RemediationPlan, now: number): void {
    for (const a of plan.actions) {
      if (a.type === 'Migrate') this.o.budget.reserve(namespace, key, a.vm, { name: a.name, phase: '', ours: true, attempt: a.attempt, reason: a.reason, createdAt: now, deleting: false }, now);
    }
  }

  /** Drift findings and remedies for the fleet's VMs (see core/fleet/drift.ts and migration.ts). */
  plan(key: string, fleet: VMFleet, vms: V1VirtualMachine[], observed: ObservedVM[], healed: Set<string>, image: ResolvedImage, revision: string, restartsAllowed: boolean, now: number): Remediation {
    const ref = fleetRef(fleet);
    const ns = ref.namespace;
    const pending = this.o.budget.pendingOf(key);
    const remembered = new Map<string, ObservedMigration[]>();
    for (const [vmKey, list] of this.aborted) {
      const fresh = list.filter((m) => now - (m.finishedAt ?? m.createdAt) < MEMORY_MS);
      if (fresh.length === 0) this.aborted.delete(vmKey);
      else this.aborted.set(vmKey, fresh);
    }
    const byName = new Map(vms.map((vm) => [vm.metadata!.name!, vm]));
    for (const name of byName.keys()) {
      const list = [...(pending.get(name) ?? []), ...(this.aborted.get(`${ns}/${name}`) ?? [])];
      if (list.length > 0) remembered.set(name, list);
    }
    const cachedMigrations = this.o.caches.migrations.list(ns);
    // Finish times are taken from migrations seen in flight here, so older ones keep the API's.
    const cachedNames = new Set<string>();
    for (const m of cachedMigrations) {
      const k = `${ns}/${m.metadata!.name}`;
      cachedNames.add(k);
      const t = this.seen.get(k);
      if (!MIGRATION_FINAL_PHASES.includes(m.status?.phase ?? '')) this.seen.set(k, t ?? { since: now });
      else if (t && t.finishedAt === undefined) this.seen.set(k, { ...t, finishedAt: now });
    }
    for (const [k, t] of this.seen) if (k.startsWith(`${ns}/`) && !cachedNames.has(k) && now - t.since > MEMORY_MS) this.seen.delete(k);
    const view = driftView({
      fleet: ref,
      templatePlacement: placementOf((fleet.spec.template as { spec?: { template?: { spec?: object } } }).spec?.template?.spec),
      rebalance: rebalanceSpecOf(fleet.spec),
      updateRevision: revision,
      vms: observed.map((o) => ({ vm: byName.get(o.name)!, index: o.index, restarting: o.restarting, disrupted: healed.has(o.name) || o.deleting })),
      vmi: (name) => this.o.caches.vmis.get(name, ns),
      node: (name) => this.o.caches.nodes.get(name),
      nodes: this.o.caches.nodes.list(),
      migrations: migrationsByVmi(cachedMigrations),
      seen: (name) => this.seen.get(`${ns}/${name}`),
      remembered,
      misplaced: new Set([...this.misplaced.keys()].filter((k) => k.startsWith(`${ns}/`)).map((k) => k.slice(ns.length + 1))),
      desired: (index) => desiredVM({ fleet: ref, spec: fleet.spec, image, index, revision }),
      now,
    });
    const spec = remediationSpecOf(fleet.spec);
    const plan = planRemediation({ fleet: ref.name, spec, backoff: this.o.backoff, restartsAllowed, clusterSlots: this.o.budget.available(now), now, vms: view.vms });
    // A revert that left the VM as it was (fields added by hand, which apply cannot remove) is not retried.
    plan.actions = plan.actions.filter((a) => a.type !== 'Revert' || this.reverted.get(`${ns}/${a.vm}`) !== byName.get(a.vm)?.metadata?.resourceVersion);
    for (const vm of view.vms) if (!vm.drift.some((d) => d.kind === 'manualEdit')) this.reverted.delete(`${ns}/${vm.name}`);
    const started = plan.actions.filter((a) => a.type === 'Migrate').length;
    const pollBudget = plan.waitingForBudget > 0 && plan.migrating.length + started < spec.maxConcurrent;
    return { plan, view, drift: driftSummary(view, plan, restartsAllowed), pollBudget };
  }

  /**
   * Carries out the drift remedies (migrations, aborts, reverts), keeps each VM's drift annotation
   * current, and records Events for migrations started, finished, timed out or misplaced.
   */
  async carryOut(key: string, fleet: VMFleet, vms: V1VirtualMachine[], r: Remediation, image: ResolvedImage, revision: string): Promise<boolean> {
    const ref = fleetRef(fleet);
    const ns = ref.namespace;
    const now = this.o.now();
    const byName = new Map(vms.map((vm) => [vm.metadata!.name!, vm]));
    const viewOf = new Map(r.view.vms.map((v) => [v.name, v]));
    const notes = new Map<string, string[]>();
    const note = (reason: string, text: string): void => void notes.set(reason, [...(notes.get(reason) ?? []), text]);

    await inParallel(r.plan.actions, async (a: RemediationAction) => {
      switch (a.type) {
        case 'Migrate':
          try {
            await this.o.client.create(RESOURCES.vmim, migrationObject(ref, a));
            this.seen.set(`${ns}/${a.name}`, { since: this.o.now(), createdAt: this.o.now() });
            note('MigrationStarted', `${a.vm} (${a.reason})`);
          } catch (err) {
            this.o.budget.release(ns, a.name);
            if (err instanceof ApiError && err.alreadyExists) return;
            // KubeVirt's admission refuses it (another migration began, the VMI stopped): re-plan later.
            if (err instanceof ApiError && (err.invalid || err.status === 403)) return note('MigrationRefused', `${a.vm}: ${err.statusMessage}`);
            throw err;
          }
          return;
        case 'Abort': {
          const m = this.o.caches.migrations.get(a.name, ns);
          await this.o.client.delete(RESOURCES.vmim, { namespace: ns, name: a.name }, m?.metadata?.uid ? { uid: m.metadata.uid } : {});
          const seen = viewOf.get(a.vm)?.migrations.find((x) => x.name === a.name);
          const vmKey = `${ns}/${a.vm}`;
          const record: ObservedMigration = { name: a.name, phase: 'Failed', ours: true, attempt: seen?.attempt ?? 0, createdAt: seen?.createdAt ?? now, finishedAt: now, deleting: false, failureReason: a.message, ...(seen?.reason ? { reason: seen.reason } : {}) };
          this.aborted.set(vmKey, [...(this.aborted.get(vmKey) ?? []).filter((x) => x.name !== a.name), record]);
          return note('MigrationTimedOut', a.message);
        }
        case 'Revert': {
          const applied = await this.o.client.apply<V1VirtualMachine>(RESOURCES.vm, desiredVM({ fleet: ref, spec: fleet.spec, image, index: a.index, revision }), this.o.fieldManager);
          this.reverted.set(`${ns}/${a.vm}`, applied.metadata?.resourceVersion ?? '');
          return note('ManualEditReverted', `${a.vm} (${a.message})`);
        }
      }
    });

    // Outcomes of our migrations, once each (those finished before this process started were told).
    // A success is verified when the VMI shows it completed: still drifting then means it landed wrong.
    for (const vm of r.view.vms) {
      const vmi = this.o.caches.vmis.get(vm.name, ns);
      for (const m of vm.migrations) {
        const key = `${ns}/${m.name}`;
        if (!m.ours || m.uid === undefined || m.finishedAt === undefined || m.finishedAt < this.startedAt || this.reported.has(key)) continue;
        if (m.phase === 'Succeeded') {
          const state = vmi?.status?.migrationState;
          if (state?.migrationUid === m.uid && !state.completed) continue; // the VMI has not caught up yet
          this.reported.set(key, now);
          const still = vm.drift.find((d) => d.kind === 'placement');
          if (still && state?.migrationUid === m.uid) {
            this.misplaced.set(key, now);
            note('MigrationMisplaced', `${vm.name} (${m.name}) landed on ${vmi?.status?.nodeName ?? '?'}, which still breaks its placement: ${still.message}`);
          } else note('MigrationSucceeded', `${vm.name} → ${vmi?.status?.nodeName ?? '?'}`);
        } else {
          this.reported.set(key, now);
          note('MigrationFailed', `${vm.name} (${m.name}: ${m.failureReason ?? 'failed'})`);
        }
      }
    }
    for (const map of [this.reported, this.misplaced]) for (const [k, at] of map) if (now - at > MEMORY_MS) map.delete(k);

    // The drift annotation on each VM: set while it drifts, removed once repaired.
    const reports = new Map(r.plan.reports.map((rep) => [rep.vm, rep]));
    const notMigratable = new Set(r.plan.notMigratable);
    await inParallel([...byName.values()].filter((vm) => !vm.metadata?.deletionTimestamp), async (vm) => {
      const name = vm.metadata!.name!;
      const report = reports.get(name);
      const text = report ? driftAnnotation(report, notMigratable.has(name) ? r.view.notMigratableReasons.get(name) : undefined) : undefined;
      const current = vm.metadata?.annotations?.[DRIFT_ANNOTATION];
      if (text === current) return;
      try {
        await this.o.client.mergePatch(RESOURCES.vm, { namespace: ns, name }, { metadata: { annotations: { [DRIFT_ANNOTATION]: text ?? null } } });
      } catch (err) {
        if (err instanceof ApiError && err.notFound) return;
        throw err;
      }
      if (!report) return;
      if (notMigratable.has(name) && report.remedy === 'None') note('NotMigratable', `${name}: ${report.note}`);
      if (report.remedy === 'Report') note('ManualEditDetected', `${name}: ${report.drift.find((d) => d.kind === 'manualEdit')?.message ?? ''}`);
    });

    const involved: InvolvedObject = { apiVersion: FLEET_API_VERSION, kind: FLEET_KIND, namespace: ns, name: ref.name, uid: ref.uid };
    const warnings = new Set(['MigrationFailed', 'MigrationTimedOut', 'MigrationMisplaced', 'MigrationRefused', 'NotMigratable', 'ManualEditDetected']);
    const headlines: Record<string, string> = {
      MigrationStarted: 'live-migrating to repair drift:', MigrationSucceeded: 'live migration succeeded:', MigrationFailed: 'live migration failed, retried with backoff:',
      MigrationTimedOut: '', MigrationMisplaced: '', MigrationRefused: 'KubeVirt refused the live migration of', NotMigratable: 'drifted but not live-migratable (fallback None), left running:',
      ManualEditReverted: 'reverted hand edits:', ManualEditDetected: 'edited by hand (manualEdits: Report):',
    };
    for (const [reason, texts] of notes) {
      const head = headlines[reason];
      await this.o.events.record(involved, warnings.has(reason) ? 'Warning' : 'Normal', reason, `${head ? `${head} ` : ''}${listNames(texts)}`);
    }
    if (notes.size > 0) this.o.log.info('remedied', { fleet: key, actions: Object.fromEntries([...notes].map(([k, v]) => [k, v.length])) });
    return notes.has('MigrationRefused');
  }
}
