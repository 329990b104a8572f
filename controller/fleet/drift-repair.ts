// Drift repair for the fleet reconciler: observes drift from the caches, plans remedies with the
// pure core (core/fleet/drift.ts, migration.ts, rebalance.ts), and carries out migrations,
// aborts and reverts, keeps each VM's drift annotation current, and records Events. It holds the
// little memory a level-triggered loop needs beyond the caches (aborted and refused migrations for
// backoff, reverts made, outcomes told, when migrations were seen), kept per fleet and pruned
// against the caches on every reconcile of the fleet.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import { desiredVM, FLEET_API_VERSION, FLEET_KIND, type FleetRef } from '../core/fleet/desired.ts';
import type { ResolvedImage } from '../core/fleet/image.ts';
import { DEFAULT_BACKOFF, MIGRATION_FINAL_PHASES, planRemediation, remediationSpecOf, type Backoff, type MigrateAction, type ObservedMigration, type RemediationAction, type RemediationPlan } from '../core/fleet/migration.ts';
import { rebalanceSpecOf } from '../core/fleet/rebalance.ts';
import type { ObservedVM } from '../core/fleet/rollout.ts';
import { ApiError, type KubeClient } from '../kube/client.ts';
import { placementOf } from '../core/placement.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { Logger } from '../runtime/logger.ts';
import { OwnerMemory } from '../runtime/owner-memory.ts';
import { inParallel } from '../runtime/parallel.ts';
import { DriftAnnotations } from './drift-annotations.ts';
import { StandbyMigrations } from './standby-migrations.ts';
import { splitKey } from '../runtime/keys.ts';
import { driftSummary, driftView, migrationOutcomes, type DriftView, type MigrationOutcome } from './drift-view.ts';
import { listNames, type EventRecorder, type InvolvedObject } from '../runtime/events.ts';
import type { FleetCaches, VMFleet } from './reconciler.ts';
import { DRIFT_ANNOTATION, driftAnnotation, migrationObject, migrationsByVmi, type Migration, type MigrationBudget } from './remediation.ts';
import type { DriftSummary } from './status.ts';
import { applyVM } from './vm-writes.ts';

/** How long finished migrations are remembered (aborts for backoff, outcomes told, times seen). */
const MEMORY_MS = 60 * 60_000;
/** How long a migration this process created is remembered before the cache shows it. */
const UNSEEN_MS = 60_000;
/** Refused creates of a VM's migration after which the fleet reports Stalled (it keeps trying, at the capped backoff). */
export const MAX_MIGRATION_REFUSALS = 5;

/** Consecutive refusals of a VM's migrations by the API server (admission), for one VMI and fleet generation. */
export interface Refusals {
  count: number;
  vmiUid: string;
  generation: number;
  message: string;
}

export interface Remediation {
  plan: RemediationPlan;
  view: DriftView;
  drift: DriftSummary;
  /**
   * New migrations wait for the cluster's budget (others' migrations), not for the fleet's own
   * maxConcurrent, whose migrations' events would bring the fleet back: look again soon.
   */
  pollBudget: boolean;
  /** VMs whose migrations the API server refused MAX_MIGRATION_REFUSALS times in a row, with the last refusal. */
  refused?: { vms: string[]; message: string };
  /** Our finished migrations whose outcome the snapshot settles (the shell tells each once). */
  outcomes: MigrationOutcome[];
}

export interface DriftRepairOptions {
  client: KubeClient;
  caches: FleetCaches;
  events: EventRecorder;
  log: Logger;
  /** The cluster-wide migration budget, shared with every other fleet's reconciles. */
  budget: MigrationBudget;
  backoff?: Backoff;
  now?: () => number;
}

/**
 * The API server's reason for refusing a create, without the object's name it starts with
 * (`<resource> "<name>" is forbidden: …`): each attempt has its own name, and a reason that stays
 * the same across attempts makes one correlated Event and one status message, not one per try.
 */
export function refusalReason(message: string): string {
  return message.replace(/^\S+ "[^"]*" is (forbidden|invalid): /, '');
}

export function fleetRef(fleet: VMFleet): FleetRef {
  return { name: fleet.metadata!.name!, namespace: fleet.metadata!.namespace!, uid: fleet.metadata!.uid! };
}

export class DriftRepair {
  // Each keyed by fleet key, then by VM or migration name.
  /** VM → migrations of ours aborted or refused, for backoff once (or as long as) the cache does not show them. */
  private readonly aborted = new OwnerMemory<ObservedMigration[]>();
  /** VM → the resourceVersion our revert left it at: a drift still there then is not ours to fix. */
  private readonly reverted = new OwnerMemory<string>();
  /** VM → consecutive refusals of its migrations. */
  private readonly refusals = new OwnerMemory<Refusals>();
  /** Finished migrations of ours whose outcome was verified and told (name → when). */
  private readonly reported = new OwnerMemory<number>();
  /** Ours that succeeded yet left the VM drifting when it landed (name → when): failures for backoff. */
  private readonly misplaced = new OwnerMemory<number>();
  /**
   * When this process created a migration or first saw it finished (name → epoch ms): API
   * timestamps have one-second precision, too coarse for timeouts and backoff.
   */
  private readonly seen = new OwnerMemory<Seen>();
  /** The next migrations of each fleet's plan, started the moment a slot frees. */
  private readonly standby: StandbyMigrations;
  /** VM → MigrationStarted text of migrations the standby started, told with the fleet's next Events. */
  private readonly startedBeside = new OwnerMemory<string>();
  /** Each VM's drift annotation, written beside the loop. */
  private readonly annotations: DriftAnnotations;
  private readonly startedAt: number;
  private readonly o: Required<DriftRepairOptions>;

  constructor(options: DriftRepairOptions) {
    this.o = { now: Date.now, backoff: DEFAULT_BACKOFF, ...options };
    this.startedAt = this.o.now();
    this.annotations = new DriftAnnotations({
      // Background lane: the annotation reports the drift; the migrations that repair it go first.
      write: (namespace, name, text) => this.o.client.mergePatch(RESOURCES.vm, { namespace, name }, { metadata: { annotations: { [DRIFT_ANNOTATION]: text } } }, undefined, { lane: 'background' }),
      log: this.o.log,
      now: this.o.now,
    });
    this.standby = new StandbyMigrations({ caches: this.o.caches, budget: this.o.budget, now: this.o.now, start: (key, ns, action) => this.startStandby(key, ns, action) });
  }

  /** The fleet is gone: so is everything remembered about its VMs and migrations. */
  forget(key: string): void {
    for (const m of this.memories()) m.forget(key);
    this.annotations.forget(key);
    this.standby.forget(key);
    this.startedBeside.forget(key);
  }

  /** The fleet's latest decision does not act: no standby migration of an earlier plan may start. */
  dropStandby(key: string): void {
    this.standby.forget(key);
  }

  /** Fed by the migration informer, after the budget: a migration that ended frees its slot for a standby one. */
  migrationChanged(type: 'add' | 'update' | 'delete', m: Migration): Promise<string[]> {
    return this.standby.onMigration(type, m);
  }

  private async startStandby(key: string, namespace: string, action: MigrateAction): Promise<boolean> {
    const fleet = this.o.caches.fleets.get(splitKey(key).name, namespace);
    try {
      if (!fleet) return false;
      await this.o.client.create(RESOURCES.vmim, migrationObject(fleetRef(fleet), action));
    } catch (err) {
      // Taken, refused or failed: the next reconcile plans this VM again and handles the answer.
      this.o.budget.release(namespace, action.name);
      if (!(err instanceof ApiError && err.alreadyExists)) this.o.log.error('standby migration not started', { fleet: key, migration: action.name, error: err instanceof Error ? err.message : String(err) });
      return false;
    }
    this.recordCreated(key, action);
    this.startedBeside.set(key, action.vm, `${action.vm} (${action.reason})`);
    return true;
  }

  /** A migration of ours was created: its timing starts now, and the VM's refusals are over. */
  private recordCreated(key: string, action: MigrateAction): void {
    this.seen.set(key, action.name, { since: this.o.now(), createdAt: this.o.now() });
    this.refusals.delete(key, action.vm);
  }

  /** Resolves once the drift annotations handed over are written (for a graceful stop). */
  drain(): Promise<void> {
    return this.annotations.drain();
  }

  /** Entries remembered, by memory, over all fleets (bounded by the live objects). */
  memorySizes(): Record<string, number> {
    const { aborted, reverted, refusals, reported, misplaced, seen, annotations, standby, startedBeside } = this;
    return Object.fromEntries(Object.entries({ aborted, reverted, refusals, reported, misplaced, seen, annotations, standby, startedBeside }).map(([k, m]) => [k, m.size]));
  }

  private memories(): OwnerMemory<unknown>[] {
    return [this.aborted, this.reverted, this.refusals, this.reported, this.misplaced, this.seen] as OwnerMemory<unknown>[];
  }

  /**
   * Reserves cluster budget for the plan's new migrations and stands its next ones by; call
   * before the first await.
   */
  reserve(key: string, fleet: VMFleet, plan: RemediationPlan, now: number): void {
    const namespace = fleet.metadata!.namespace!;
    for (const a of plan.actions) {
      if (a.type === 'Migrate') this.o.budget.reserve(namespace, key, a, now);
    }
    this.standby.remember(key, fleet, plan, remediationSpecOf(fleet.spec).maxConcurrent);
  }

  /** What is remembered of the fleet's migrations and reverts, as data for planDrift. */
  memoryOf(key: string): DriftMemory {
    const { aborted, reverted, refusals, reported, misplaced, seen } = this;
    return {
      aborted: Object.fromEntries(aborted.entries(key)), reverted: Object.fromEntries(reverted.entries(key)), refusals: Object.fromEntries(refusals.entries(key)),
      reported: Object.fromEntries(reported.entries(key)), misplaced: Object.fromEntries(misplaced.entries(key)), seen: Object.fromEntries(seen.entries(key)),
    };
  }

  /** Takes the memory planDrift returned as the fleet's own (pruned and updated). */
  remember(key: string, memory: DriftMemory): void {
    const put = <V>(m: OwnerMemory<V>, entries: Readonly<Record<string, V>>): void => {
      m.forget(key);
      for (const [child, value] of Object.entries(entries)) m.set(key, child, value);
    };
    put(this.aborted, memory.aborted);
    put(this.reverted, memory.reverted);
    put(this.refusals, memory.refusals);
    put(this.reported, memory.reported);
    put(this.misplaced, memory.misplaced);
    put(this.seen, memory.seen);
  }

  /**
   * Carries out the drift remedies (migrations, aborts, reverts), keeps each VM's drift annotation
   * current, and records Events for migrations started, finished, timed out or misplaced. Says
   * whether a migration was refused: the next plan, which knows the refusal, sets when to retry.
   */
  async carryOut(key: string, fleet: VMFleet, vms: V1VirtualMachine[], r: Remediation, image: ResolvedImage, revision: string): Promise<{ refused: boolean }> {
    const ref = fleetRef(fleet);
    const ns = ref.namespace;
    const now = this.o.now();
    const byName = new Map(vms.map((vm) => [vm.metadata!.name!, vm]));
    const notes = new Map<string, string[]>();
    const note = (reason: string, text: string): void => void notes.set(reason, [...(notes.get(reason) ?? []), text]);
    for (const [, text] of this.startedBeside.entries(key)) note('MigrationStarted', text);
    this.startedBeside.forget(key);

    const failedAttempt = (vm: string, record: ObservedMigration): void =>
      this.aborted.set(key, vm, [...(this.aborted.get(key, vm) ?? []).filter((x) => x.name !== record.name), record]);
    const created = new Set<string>();
    try {
      await inParallel(r.plan.actions, async (a: RemediationAction) => {
        switch (a.type) {
          case 'Migrate':
            try {
              await this.o.client.create(RESOURCES.vmim, migrationObject(ref, a));
              created.add(a.name);
              this.recordCreated(key, a);
              note('MigrationStarted', `${a.vm} (${a.reason})`);
            } catch (err) {
              // Someone else's object holds the name: the cache will show it and the next plan names the attempt after it.
              if (err instanceof ApiError && err.alreadyExists) return;
              // Refused at admission (KubeVirt's webhook, a policy, RBAC): counted as a failed attempt,
              // so the next one waits out the migration backoff (doubling, capped).
              if (err instanceof ApiError && (err.invalid || err.status === 403)) {
                const why = refusalReason(err.statusMessage);
                this.refuse(key, fleet, a.vm, why);
                failedAttempt(a.vm, { name: a.name, phase: 'Failed', ours: true, attempt: a.attempt, reason: a.reason, createdAt: now, finishedAt: now, deleting: false, failureReason: `refused: ${why}` });
                return note('MigrationRefused', `${a.vm}: ${why}`);
              }
              throw err;
            }
            return;
          case 'Abort': {
            const m = this.o.caches.migrations.get(a.name, ns);
            await this.o.client.delete(RESOURCES.vmim, { namespace: ns, name: a.name }, m?.metadata?.uid ? { uid: m.metadata.uid } : {});
            const seen = r.view.vms.find((v) => v.name === a.vm)?.migrations.find((x) => x.name === a.name);
            failedAttempt(a.vm, { name: a.name, phase: 'Failed', ours: true, attempt: seen?.attempt ?? 0, createdAt: seen?.createdAt ?? now, finishedAt: now, deleting: false, failureReason: a.message, ...(seen?.reason ? { reason: seen.reason } : {}) });
            return note('MigrationTimedOut', a.message);
          }
          case 'Revert': {
            const vm = byName.get(a.vm);
            if (!vm) return;
            const applied = await applyVM(this.o.client, desiredVM({ fleet: ref, spec: fleet.spec, image, index: a.index, revision }), vm);
            if (!applied) return; // no longer this VM
            this.reverted.set(key, a.vm, applied.metadata?.resourceVersion ?? '');
            return note('ManualEditReverted', `${a.vm} (${a.message})`);
          }
        }
      });
    } finally {
      // Reservations of migrations not created (refused, failed, or never tried) free their slots now.
      for (const a of r.plan.actions) if (a.type === 'Migrate' && !created.has(a.name)) this.o.budget.release(ns, a.name);
    }

    // Outcomes of our migrations, once each (those finished before this process started were told).
    for (const o of r.outcomes) {
      if (o.finishedAt < this.startedAt || this.reported.get(key, o.migration) !== undefined) continue;
      this.reported.set(key, o.migration, now);
      if (o.verdict === 'misplaced') {
        this.misplaced.set(key, o.migration, now);
        note('MigrationMisplaced', `${o.vm} (${o.migration}) landed on ${o.node ?? '?'}, which still breaks its placement: ${o.message ?? ''}`);
      } else if (o.verdict === 'succeeded') note('MigrationSucceeded', `${o.vm} → ${o.node ?? '?'}`);
      else note('MigrationFailed', `${o.vm} (${o.migration}: ${o.message ?? 'failed'})`);
    }

    // The drift annotation on each VM: set while it drifts, removed once repaired. Written beside
    // the loop, behind the migrations; its Events are told when a new text is handed over.
    const reports = new Map(r.plan.reports.map((rep) => [rep.vm, rep]));
    const notMigratable = new Set(r.plan.notMigratable);
    this.annotations.retain(key, (vm) => byName.has(vm));
    for (const vm of byName.values()) {
      if (vm.metadata?.deletionTimestamp) continue;
      const name = vm.metadata!.name!;
      const report = reports.get(name);
      const text = report ? driftAnnotation(report, notMigratable.has(name) ? r.view.notMigratableReasons.get(name) : undefined) : undefined;
      if (!this.annotations.submit(key, vm, text) || !report) continue;
      if (notMigratable.has(name) && report.remedy === 'None') note('NotMigratable', `${name}: ${report.note}`);
      if (report.remedy === 'Report') note('ManualEditDetected', `${name}: ${report.drift.find((d) => d.kind === 'manualEdit')?.message ?? ''}`);
    }

    const involved: InvolvedObject = { apiVersion: FLEET_API_VERSION, kind: FLEET_KIND, namespace: ns, name: ref.name, uid: ref.uid };
    const warnings = new Set(['MigrationFailed', 'MigrationTimedOut', 'MigrationMisplaced', 'MigrationRefused', 'NotMigratable', 'ManualEditDetected']);
    const headlines: Record<string, string> = {
      MigrationStarted: 'live-migrating to repair drift:', MigrationSucceeded: 'live migration succeeded:', MigrationFailed: 'live migration failed, retried with backoff:',
      MigrationTimedOut: '', MigrationMisplaced: '', MigrationRefused: 'the API server refused the live migration of', NotMigratable: 'drifted but not live-migratable (fallback None), left running:',
      ManualEditReverted: 'reverted hand edits:', ManualEditDetected: 'edited by hand (manualEdits: Report):',
    };
    for (const [reason, texts] of notes) {
      const head = headlines[reason];
      await this.o.events.record(involved, warnings.has(reason) ? 'Warning' : 'Normal', reason, `${head ? `${head} ` : ''}${listNames(texts)}`);
    }
    if (notes.size > 0) this.o.log.info('remedied', { fleet: key, actions: Object.fromEntries([...notes].map(([k, v]) => [k, v.length])) });
    return { refused: notes.has('MigrationRefused') };
  }

  private refuse(key: string, fleet: VMFleet, vm: string, message: string): void {
    const vmiUid = this.o.caches.vmis.get(vm, fleet.metadata!.namespace!)?.metadata?.uid ?? '';
    const generation = fleet.metadata?.generation ?? 0;
    const r = this.refusals.get(key, vm);
    const same = r && r.vmiUid === vmiUid && r.generation === generation;
    this.refusals.set(key, vm, { count: same ? r.count + 1 : 1, vmiUid, generation, message });
  }
}

/** When this process created a migration or first saw it finished (epoch ms; finer than API timestamps). */
export interface Seen {
  since: number;
  createdAt?: number;
  finishedAt?: number;
}

/** What drift repair remembers of one fleet beyond the caches, by VM or migration name. */
export interface DriftMemory {
  /** VM → migrations of ours aborted or refused, for backoff. */
  aborted: Readonly<Record<string, ObservedMigration[]>>;
  /** VM → the resourceVersion our revert left it at. */
  reverted: Readonly<Record<string, string>>;
  /** VM → consecutive refusals of its migrations. */
  refusals: Readonly<Record<string, Refusals>>;
  /** Finished migrations of ours whose outcome was told (name → when). */
  reported: Readonly<Record<string, number>>;
  /** Ours that succeeded yet left the VM drifting (name → when). */
  misplaced: Readonly<Record<string, number>>;
  seen: Readonly<Record<string, Seen>>;
}

export const NO_DRIFT_MEMORY: DriftMemory = { aborted: {}, reverted: {}, refusals: {}, reported: {}, misplaced: {}, seen: {} };

export interface DriftPlanInput {
  fleet: VMFleet;
  vms: readonly V1VirtualMachine[];
  observed: readonly ObservedVM[];
  /** VMs autohealing replaces in this reconcile. */
  healed: ReadonlySet<string>;
  image: ResolvedImage;
  revision: string;
  restartsAllowed: boolean;
  vmi: (name: string) => V1VirtualMachineInstance | undefined;
  node: (name: string) => V1Node | undefined;
  nodes: readonly V1Node[];
  /** The fleet namespace's migrations. */
  migrations: readonly Migration[];
  /** Migrations of this fleet created but not yet in the cache (the cluster budget's reservations), by VM. */
  pending: ReadonlyMap<string, readonly ObservedMigration[]>;
  /** Free slots in the cluster-wide migration budget. */
  clusterSlots: number;
  backoff: Backoff;
  memory: DriftMemory;
  now: number;
}

const keep = <V>(entries: Readonly<Record<string, V>>, test: (name: string, value: V) => boolean): Record<string, V> =>
  Object.fromEntries(Object.entries(entries).filter(([name, value]) => test(name, value)));

/**
 * Drift findings and remedies for the fleet's VMs (see core/fleet/drift.ts and migration.ts), and
 * the memory to keep: only what the caches still justify (entries of VMs the fleet still has, of
 * migrations the cache still shows or that were created moments ago, refusals for the VMI and
 * fleet generation they were made against), with migrations newly seen in flight or finished. Pure.
 */
/**
 * Names what desiredVM builds a fleet's VMs from but the index: the fleet's uid and generation (its
 * spec), the revision and the resolved image. While it stays the same, a judgement of a cached VM
 * object against its desired VM stays true.
 */
export const desiredStateKey = (fleet: VMFleet, revision: string, image: ResolvedImage): string =>
  `${fleet.metadata?.uid}/${fleet.metadata?.generation ?? 0}/${revision}/${JSON.stringify(image)}`;

export function planDrift(input: DriftPlanInput): { remediation: Remediation; memory: DriftMemory } {
  const { fleet, now } = input;
  const ref = fleetRef(fleet);
  const byName = new Map(input.vms.map((vm) => [vm.metadata!.name!, vm]));
  const cachedNames = new Set(input.migrations.map((m) => m.metadata!.name!));
  const generation = fleet.metadata?.generation ?? 0;
  const live = (name: string, at: number) => cachedNames.has(name) || now - at < UNSEEN_MS;
  const aborted: Record<string, ObservedMigration[]> = {};
  for (const [vm, list] of Object.entries(input.memory.aborted)) {
    const fresh = list.filter((m) => now - (m.finishedAt ?? m.createdAt) < MEMORY_MS);
    if (byName.has(vm) && fresh.length > 0) aborted[vm] = fresh;
  }
  const reverted = keep(input.memory.reverted, (vm) => byName.has(vm));
  const refusals = keep(input.memory.refusals, (vm, r) => byName.has(vm) && r.generation === generation && input.vmi(vm)?.metadata?.uid === r.vmiUid);
  const reported = keep(input.memory.reported, live);
  const misplaced = keep(input.memory.misplaced, live);
  const seen = keep(input.memory.seen, (name, t) => live(name, t.since));

  // By the few VMs with something remembered, not by all of the fleet's.
  const remembered = new Map<string, ObservedMigration[]>();
  for (const name of new Set([...input.pending.keys(), ...Object.keys(aborted)])) {
    const list = [...(input.pending.get(name) ?? []), ...(aborted[name] ?? [])];
    if (byName.has(name) && list.length > 0) remembered.set(name, list);
  }
  // Finish times are taken from migrations seen in flight here, so older ones keep the API's.
  for (const m of input.migrations) {
    const name = m.metadata!.name!;
    const t = seen[name];
    if (!MIGRATION_FINAL_PHASES.includes(m.status?.phase ?? '')) {
      if (!t && byName.has(m.spec?.vmiName ?? '')) seen[name] = { since: now };
    } else if (t && t.finishedAt === undefined) seen[name] = { ...t, finishedAt: now };
  }
  const desired = (index: number) => desiredVM({ fleet: ref, spec: fleet.spec, image: input.image, index, revision: input.revision });
  const view = driftView({
    fleet: ref,
    templatePlacement: placementOf((fleet.spec.template as { spec?: { template?: { spec?: object } } }).spec?.template?.spec),
    rebalance: rebalanceSpecOf(fleet.spec),
    updateRevision: input.revision,
    vms: input.observed.map((o) => ({ vm: byName.get(o.name)!, index: o.index, restarting: o.restarting, disrupted: input.healed.has(o.name) || o.deleting })),
    vmi: input.vmi,
    node: input.node,
    nodes: input.nodes,
    migrations: migrationsByVmi(input.migrations),
    seen: (name) => seen[name],
    remembered,
    misplaced: new Set(Object.keys(misplaced)),
    desired,
    desiredKey: desiredStateKey(fleet, input.revision, input.image),
    now,
  });
  const spec = remediationSpecOf(fleet.spec);
  // A success this snapshot first finds misplaced is a failed attempt for this very plan, not only
  // once carryOut has remembered it: else the next attempt would start at once, without backoff.
  const outcomes = migrationOutcomes(view, input.vmi);
  const landedWrong = new Set(outcomes.filter((o) => o.verdict === 'misplaced' && reported[o.migration] === undefined).map((o) => o.migration));
  for (const vm of view.vms) {
    if (vm.migrations.some((m) => landedWrong.has(m.name))) vm.migrations = vm.migrations.map((m) => (landedWrong.has(m.name) ? { ...m, misplaced: true } : m));
  }
  const plan = planRemediation({ fleet: ref.name, spec, backoff: input.backoff, restartsAllowed: input.restartsAllowed, clusterSlots: input.clusterSlots, now, vms: view.vms });
  // A revert that left the VM as it was (fields added by hand, which apply cannot remove) is not retried.
  plan.actions = plan.actions.filter((a) => a.type !== 'Revert' || reverted[a.vm] !== byName.get(a.vm)?.metadata?.resourceVersion);
  if (Object.keys(reverted).length > 0) for (const vm of view.vms) if (!vm.drift.some((d) => d.kind === 'manualEdit')) delete reverted[vm.name];
  const given = Object.entries(refusals).filter(([, r]) => r.count >= MAX_MIGRATION_REFUSALS);
  const started = plan.actions.filter((a) => a.type === 'Migrate').length;
  const pollBudget = plan.waitingForBudget > 0 && plan.migrating.length + started < spec.maxConcurrent;
  const refused = given.length > 0 ? { vms: given.map(([vm]) => vm).sort(), message: given[0]![1].message } : undefined;
  return {
    remediation: { plan, view, drift: driftSummary(view, plan, input.restartsAllowed), pollBudget, outcomes, ...(refused ? { refused } : {}) },
    memory: { aborted, reverted, refusals, reported, misplaced, seen },
  };
}
