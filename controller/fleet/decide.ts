// One reconcile's decision for a fleet, as one pure function of a snapshot: the fleet, its VMs,
// the namespace's VMIs and migrations, the nodes, its GoldenImage, the cluster migration budget,
// the time, and the little the controller remembers (restarts awaited, a refused template, names
// found held, drift repair's memory). The reconciler builds the snapshot from its caches and
// carries out what comes back; `virtfleet plan` builds it from the live cluster and a proposed
// spec, so both decide with the same code. The memory to keep is returned as data.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import { autohealSpecOf, planAutohealing, type Replacement } from '../core/fleet/autoheal.ts';
import { classifyChange, type Classification } from '../core/fleet/classify.ts';
import { desiredVM } from '../core/fleet/desired.ts';
import { imageVersionOfVM, resolveFleetImage, type ResolvedImage } from '../core/fleet/image.ts';
import type { Backoff, ObservedMigration } from '../core/fleet/migration.ts';
import { FLEET_LABEL, indexesHeldByOthers, parseVmIndex, REVISION_LABEL, vmName } from '../core/fleet/names.ts';
import { revisionHash } from '../core/fleet/revision.ts';
import { planRollout, rolloutLimits, rolloutSpecOf, type ObservedVM, type Plan } from '../core/fleet/rollout.ts';
import { disruptionWindow } from '../core/fleet/window.ts';
import { listNames } from '../runtime/events.ts';
import { desiredStateKey, fleetRef, NO_DRIFT_MEMORY, planDrift, type DriftMemory, type Remediation } from './drift-repair.ts';
import { conditionOf, observeVM } from './observe.ts';
import type { Migration } from './remediation.ts';
import type { DriftSummary, StalledReason } from './status.ts';

/** How long a requested restart counts as under way without the cache showing a new VMI. */
export const RESTART_EXPECTATION_MS = 5 * 60_000;
/**
 * How long the VMI a restart deleted may still show, not even terminating, before the delete
 * counts as not done: one whose answer was lost (the connection cut) may never have happened.
 */
export const RESTART_DELETE_UNSEEN_MS = 20_000;

/**
 * The last moment a restart counts as under way: a while after the delete while the old VMI
 * still runs untouched (the delete may never have happened), else until the expectation ends.
 */
function restartDeadline(name: string, r: { uid: string; at: number }, vmis: ReadonlyMap<string, V1VirtualMachineInstance>): number {
  const vmi = vmis.get(name);
  const untouched = vmi?.metadata?.uid === r.uid && !vmi.metadata?.deletionTimestamp;
  return r.at + (untouched ? RESTART_DELETE_UNSEEN_MS : RESTART_EXPECTATION_MS);
}

/** When the first awaited restart stops counting if nothing changes (no event would bring the fleet back for it). */
export function restartsLapseAt(restarts: FleetMemory['restarts'], vmis: ReadonlyMap<string, V1VirtualMachineInstance>): number {
  return Math.min(Infinity, ...Object.entries(restarts).map(([name, r]) => restartDeadline(name, r, vmis) + 1));
}

/** The restarts still awaited: of VMs that exist, up to their deadline. */
export function awaitedRestarts(restarts: FleetMemory['restarts'], vms: ReadonlySet<string>, vmis: ReadonlyMap<string, V1VirtualMachineInstance>, now: number): FleetMemory['restarts'] {
  return Object.fromEntries(Object.entries(restarts).filter(([name, r]) => vms.has(name) && now <= restartDeadline(name, r, vmis)));
}
/** How long a name found taken by a refused create counts as held, until the cache shows its holder. */
export const HELD_UNSEEN_MS = 60_000;

/** What the fleet reconciler remembers of one fleet beyond its caches. */
export interface FleetMemory {
  /** VM → uid of the VMI deleted to restart it (and when), until another VMI shows. */
  restarts: Readonly<Record<string, { uid: string; at: number }>>;
  /** The template revision the API server refused, with its message. */
  refused?: { revision: string; message: string };
  /** VM name → when a create found it held by an object the cache did not show. */
  held: Readonly<Record<string, number>>;
  drift: DriftMemory;
}

export const NO_FLEET_MEMORY: FleetMemory = { restarts: {}, held: {}, drift: NO_DRIFT_MEMORY };

export interface FleetSnapshot {
  fleet: VMFleet;
  /** The VMs the fleet owns (label and controller reference). */
  vms: readonly V1VirtualMachine[];
  /** Names of the VMs holding one of the fleet's VM names that it does not own. */
  foreignVMs: readonly string[];
  /** The VMIs of the fleet's VMs. */
  vmis: readonly V1VirtualMachineInstance[];
  nodes: readonly V1Node[];
  /** The GoldenImage the fleet's spec.image names; undefined when it does not exist. */
  goldenImage: GoldenImage | undefined;
  /** The migrations of the fleet's VMIs (by name), its own and anyone else's. */
  migrations: readonly Migration[];
  /** The cluster-wide migration budget: free slots, and this fleet's reservations not yet cached, by VM. */
  budget: { slots: number; pending: ReadonlyMap<string, readonly ObservedMigration[]> };
  backoff: Backoff;
  now: number;
  memory: FleetMemory;
}

/** The rollout's and drift repair's decision for a fleet whose image resolved. */
export interface FleetDecision {
  plan: Plan;
  heal: Replacement[];
  image: ResolvedImage;
  revision: string;
  remediation: Remediation;
  /** Names the fleet would use that objects it does not own hold. */
  conflicts: string[];
  /** VMs that run an Obsolete image version. */
  obsolete: string[];
  deprecated?: string;
  nextCheckAt?: number;
  /** What the planner saw of each VM, and each outdated VM's change (kind and the fields that changed). */
  observed: ObservedVM[];
  changes: Record<string, Classification>;
  /** The image version each VM boots (its VMI's volume while it runs, else its spec's), where the image records it. */
  runs: Record<string, string>;
}

export type Verdict = { stalled: StalledReason } | { waiting: StalledReason } | FleetDecision;

/** What one VM's cached objects say to the rollout: its change, the image version it runs, its observation. */
interface VMJudgement {
  change: Classification | undefined;
  runs: { name: string; phase: string } | undefined;
  observed: ObservedVM;
}

/**
 * The judgement of each cached VM object with what it was judged from. The caches replace an
 * object on every change, so while the VM, its VMI and node objects, the GoldenImage object, the
 * restart awaited and the fleet's desired state (`key`) stay the same, so does the judgement: a
 * reconcile after one event of a fleet of 10,000 VMs judges the VMs that event concerns, not all.
 */
const judgements = new WeakMap<V1VirtualMachine, {
  vmi: V1VirtualMachineInstance | undefined; node: V1Node | undefined; golden: GoldenImage; restartedVmiUid: string | undefined; key: string; judgement: VMJudgement;
}>();

/** The fleet's decision and the memory to keep for it. */
export function decideFleet(snapshot: FleetSnapshot): { verdict: Verdict; memory: FleetMemory } {
  const { fleet, now, memory } = snapshot;
  const unchanged = (verdict: Verdict) => ({ verdict, memory });
  const spec = fleet.spec;
  const namespace = fleet.metadata!.namespace!;
  const imageNamespace = spec.image.namespace ?? namespace;
  const golden = snapshot.goldenImage;
  if (!golden) return unchanged({ stalled: { reason: 'ImageNotFound', message: `GoldenImage ${imageNamespace}/${spec.image.name} does not exist` } });
  // The image controller's record (status), not the spec alone: channels, phases, PVCs.
  const resolved = resolveFleetImage(spec.image, golden, imageNamespace, namespace);
  if (!resolved.ok) return unchanged(resolved.wait ? { waiting: { reason: resolved.reason, message: resolved.message } } : { stalled: { reason: resolved.reason, message: resolved.message } });
  const image = resolved.image;
  const imageWhat = `version ${image.version} of GoldenImage ${imageNamespace}/${spec.image.name}`;
  const deprecation = golden.spec.deprecations?.find((d) => d.version === image.version);
  // Pinned to an Obsolete version: nothing new starts on it, and the running VMs are left alone.
  if (spec.image.version !== undefined && image.phase === 'Obsolete') {
    return unchanged({ stalled: { reason: 'ObsoleteVersion', message: `${imageWhat} is Obsolete${deprecation?.message ? ` (${deprecation.message})` : ''}; pin another version or follow a channel` } });
  }
  const deprecated = image.phase === 'Deprecated' ? `${imageWhat} is Deprecated${deprecation?.message ? `: ${deprecation.message}` : ''}` : undefined;
  const revision = revisionHash({ template: spec.template, imageVolume: spec.image.volume, nameGeneration: spec.nameGeneration, image });
  if (memory.refused?.revision === revision) return unchanged({ stalled: { reason: 'InvalidTemplate', message: memory.refused.message } });

  const vmis = new Map(snapshot.vmis.map((vmi) => [vmi.metadata!.name!, vmi]));
  const nodes = new Map(snapshot.nodes.map((node) => [node.metadata!.name!, node]));
  const ref = fleetRef(fleet);
  const names = new Set(snapshot.vms.map((vm) => vm.metadata!.name!));
  const restarts = awaitedRestarts(memory.restarts, names, vmis, now);
  const observed: ObservedVM[] = [];
  const changes: Record<string, Classification> = {};
  const runsVersion: Record<string, string> = {};
  const judgementKey = desiredStateKey(fleet, revision, image);
  const judge = (vm: V1VirtualMachine, index: number, vmi: V1VirtualMachineInstance | undefined, node: V1Node | undefined, restartedVmiUid: string | undefined): VMJudgement => {
    const outdated = vm.metadata?.labels?.[REVISION_LABEL] !== revision;
    const liveMigratable = conditionOf(vmi?.status?.conditions, 'LiveMigratable')?.status === 'True';
    const change = outdated ? classifyChange(vm, desiredVM({ fleet: ref, spec, image, index, revision }), { liveMigratable, imageVolume: spec.image.volume }) : undefined;
    const running = vmi && !vmi.metadata?.deletionTimestamp ? { spec: { dataVolumeTemplates: vm.spec.dataVolumeTemplates, template: { spec: vmi.spec } } } : vm;
    const runs = imageVersionOfVM(running, spec.image.volume, golden, imageNamespace) ?? imageVersionOfVM(vm, spec.image.volume, golden, imageNamespace);
    // Frozen: shared by every reconcile that finds the same objects.
    return {
      change,
      runs,
      observed: Object.freeze({
        ...observeVM({ vm, index, vmi, node, restartedVmiUid, change: change?.kind ?? 'none' }),
        ...(outdated && runs?.phase === 'Obsolete' && runs.name !== image.version ? { obsolete: runs.name } : {}),
      }),
    };
  };
  const awaitingRestarts = Object.keys(restarts).length > 0;
  for (const vm of snapshot.vms) {
    const name = vm.metadata!.name!;
    const index = parseVmIndex(ref.name, name);
    if (index === undefined) continue;
    const vmi = vmis.get(name);
    const node = vmi?.status?.nodeName ? nodes.get(vmi.status.nodeName) : undefined;
    const restartedVmiUid = awaitingRestarts ? restarts[name]?.uid : undefined;
    const known = judgements.get(vm);
    let judgement: VMJudgement;
    if (known && known.vmi === vmi && known.node === node && known.golden === golden && known.restartedVmiUid === restartedVmiUid && known.key === judgementKey) {
      judgement = known.judgement;
    } else {
      judgement = judge(vm, index, vmi, node, restartedVmiUid);
      judgements.set(vm, { vmi, node, golden, restartedVmiUid, key: judgementKey, judgement });
    }
    if (judgement.change) changes[name] = judgement.change;
    if (judgement.runs) runsVersion[name] = judgement.runs.name;
    observed.push(judgement.observed);
  }
  const refusalForgotten = { ...memory, restarts, refused: undefined };
  const window = disruptionWindow(spec.remediation?.disruptionWindow, now);
  if ('invalid' in window) return { verdict: { stalled: { reason: 'InvalidDisruptionWindow', message: window.invalid } }, memory: refusalForgotten };
  const rollout = rolloutSpecOf(spec);

  // Indexes the fleet may not use: names held by VMs it does not own, and names a create found
  // held moments ago (the cache may not show their holder yet).
  const foreign = new Set(snapshot.foreignVMs);
  const held = Object.fromEntries(Object.entries(memory.held).filter(([name, at]) => now - at < HELD_UNSEEN_MS && !names.has(name) && !foreign.has(name)));
  const heldByOther = (name: string) => foreign.has(name) || (!names.has(name) && held[name] !== undefined);
  const heldIndexes = indexesHeldByOthers(ref.name, rollout.replicas + rolloutLimits(rollout).maxSurge, heldByOther);

  const healing = planAutohealing({ spec: autohealSpecOf(spec), updateRevision: revision, pauseOnFailure: rollout.strategy === 'RollingUpdate' && rollout.pauseOnFailure, now, vms: observed });
  const healed = new Set(healing.replace.map((r) => r.name));
  const drift = planDrift({
    fleet, vms: snapshot.vms, observed, healed, image, revision, restartsAllowed: window.open,
    vmi: (name) => vmis.get(name), node: (name) => nodes.get(name), nodes: snapshot.nodes, migrations: snapshot.migrations,
    pending: snapshot.budget.pending, clusterSlots: snapshot.budget.slots, backoff: snapshot.backoff, memory: memory.drift, now,
  });
  const remediation = drift.remediation;
  const driftRestarts = new Map(remediation.plan.restarts.map((r) => [r.vm, r.message]));
  const migrating = new Set(remediation.plan.migrating);
  const drifted = new Set(remediation.view.vms.filter((v) => v.drift.length > 0).map((v) => v.name));
  const plan = planRollout({
    fleet: ref.name,
    spec: rollout,
    updateRevision: revision,
    now,
    restartsAllowed: window.open,
    taken: heldIndexes,
    vms: observed.map((vm) => ({
      ...vm,
      ...(healed.has(vm.name) ? { deleting: true } : {}),
      drifted: drifted.has(vm.name),
      migrating: migrating.has(vm.name),
      ...(driftRestarts.has(vm.name) ? { driftRestart: driftRestarts.get(vm.name)! } : {}),
    })),
  });
  // Never a migration and a restart at once: what the rollout disrupts gets no other remedy.
  const disrupted = new Set(plan.actions.filter((a) => a.type !== 'Create' && a.type !== 'UpdateInPlace').map((a) => a.name));
  remediation.plan.actions = remediation.plan.actions.filter((a) => a.type === 'Abort' || !disrupted.has(a.vm));
  const waitingForWindow = 'opensAt' in window && (plan.blocked.length > 0 || remediation.plan.reports.some((r) => r.remedy === 'Restart'));
  const next = Math.min(
    healing.nextCheckAt ?? Infinity,
    remediation.plan.nextCheckAt ?? Infinity,
    remediation.view.rebalance.nextCheckAt ?? Infinity,
    waitingForWindow ? window.opensAt ?? Infinity : Infinity,
    restartsLapseAt(restarts, vmis),
  );
  const obsolete = observed.filter((vm) => vm.obsolete !== undefined).map((vm) => vm.name);
  remediation.drift = withObsolete(remediation.drift, obsolete, observed);
  return {
    verdict: {
      plan, heal: healing.replace, image, revision, remediation, conflicts: heldIndexes.map((i) => vmName(ref.name, i)), obsolete, observed, changes, runs: runsVersion,
      ...(deprecated ? { deprecated } : {}), ...(Number.isFinite(next) ? { nextCheckAt: next } : {}),
    },
    memory: { restarts, held, drift: drift.memory },
  };
}

/** The drift summary with the VMs that run an Obsolete image version counted (drift kind obsoleteImage). */
function withObsolete(drift: DriftSummary, obsolete: readonly string[], observed: readonly ObservedVM[]): DriftSummary {
  if (obsolete.length === 0) return drift;
  const versions = [...new Set(observed.flatMap((vm) => (vm.obsolete ? [vm.obsolete] : [])))].join(', ');
  const message = `${listNames(obsolete)} ${obsolete.length === 1 ? 'runs' : 'run'} Obsolete image version ${versions}; rolled forward in the disruption window`;
  return {
    ...drift,
    drifted: drift.drifted + obsolete.length,
    byKind: { ...drift.byKind, obsoleteImage: obsolete.length },
    repairing: true,
    reason: drift.reason ?? 'ObsoleteImage',
    message: drift.message ? `${drift.message}; ${message}` : message,
  };
}

/** Whether the object is the fleet's: its label and the fleet's controller owner reference (invariant 4). */
export function ownedBy(obj: { metadata?: { labels?: Record<string, string>; ownerReferences?: { controller?: boolean; uid?: string }[] } }, fleet: VMFleet): boolean {
  return obj.metadata?.labels?.[FLEET_LABEL] === fleet.metadata?.name && !!obj.metadata?.ownerReferences?.some((o) => o.controller && o.uid === fleet.metadata?.uid);
}
