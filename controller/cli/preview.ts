// What a change to a fleet would do, VM by VM and wave by wave. Pure: it runs the controller's
// own decision (decideFleet) on a snapshot, carries each wave's actions out on a copy of the
// snapshot as KubeVirt and the controller would (a VM created or restarted boots in the observed
// restart time, a migration lands in the observed migration time on a node its placement allows),
// and decides again, until nothing is left to do. No rule of the rollout, drift repair or image
// resolution is written twice: every wave is what the reconciler would do at that moment.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import type { GoldenImage } from '../api/objects.ts';
import { desiredVM } from '../core/fleet/desired.ts';
import { REVISION_LABEL } from '../core/fleet/names.ts';
import { rolloutSpecOf } from '../core/fleet/rollout.ts';
import { applyDeprecations, channelRecords, resolveChannels, type HealthCount } from '../core/image/channels.ts';
import { recordedRejections } from '../core/image/rollback.ts';
import { placementOf, placementViolations } from '../core/placement.ts';
import { decideFleet, type FleetDecision, type FleetSnapshot } from '../fleet/decide.ts';
import { fleetRef } from '../fleet/drift-repair.ts';
import { heldBack } from '../fleet/status.ts';
import type { Promotion } from './promotion.ts';

/** What happens to one VM, least disruptive first (a VM's action is its most disruptive step). */
export const VM_ACTIONS = ['none', 'metadataPatch', 'liveUpdate', 'liveMigration', 'restart', 'create', 'diskRecreate', 'delete'] as const;
export type VMAction = (typeof VM_ACTIONS)[number];

export interface VMStep {
  /** 1-based wave. */
  wave: number;
  action: VMAction;
  reason: string;
}

export interface VMPlan {
  name: string;
  /** The most disruptive of its steps; none when it has none. */
  action: VMAction;
  reason: string;
  /** The wave of its first step. */
  wave?: number;
  steps: VMStep[];
  /** The revision it runs now (undefined for a VM the change creates). */
  fromRevision?: string;
  /** The revision it runs once the plan is carried out (undefined when it is deleted). */
  toRevision?: string;
}

export interface Wave {
  index: number;
  /** Seconds from the start of the change until the wave starts. */
  startsAtSeconds: number;
  durationSeconds: number;
  actions: { vm: string; action: VMAction }[];
}

/** Times observed in the cluster, and how they were found. */
export interface Estimates {
  restartSeconds: number;
  migrationSeconds: number;
  /** One line each: how the two times were estimated. */
  basis: { restart: string; migration: string };
}

export interface FleetPlan {
  namespace: string;
  name: string;
  /** The fleet exists in the cluster (else the plan is its creation). */
  exists: boolean;
  /** What the controller would report: Planned, or Stalled/Waiting with why. */
  state: 'Planned' | 'Stalled' | 'Waiting';
  message?: string;
  imageVersion?: string;
  updateRevision?: string;
  vms: VMPlan[];
  waves: Wave[];
  /** VMs left at an older revision when the plan is done, and why (partition, OnDelete, paused). */
  held: { vm: string; revision: string | undefined; why: string }[];
  /** The channel the fleet boots from would not take up its followed channel's version yet: when it would, or why not. */
  channelWaits?: Promotion;
  summary: { changed: number; actions: Record<VMAction, number>; waves: number; makespanSeconds: number };
}

/** Time a write the API server applies at once (metadata, live update, delete) is counted as. */
const WRITE_SECONDS = 1;
/** A plan that has not finished by then (a window that never opens, a rollout halted) stops. */
const HORIZON_MS = 14 * 24 * 3600_000;

const rank = (a: VMAction) => VM_ACTIONS.indexOf(a);

/** The plan of one fleet's change: `snapshot` with the proposed fleet, as the cluster is now. */
export function planFleet(snapshot: FleetSnapshot, estimates: Estimates, exists: boolean): FleetPlan {
  return simulateFleet(snapshot, estimates, exists).plan;
}

/** The plan, and the world as it would be once the plan is carried out. */
export function simulateFleet(snapshot: FleetSnapshot, estimates: Estimates, exists: boolean): { plan: FleetPlan; world: FleetSnapshot } {
  const ref = fleetRef(snapshot.fleet);
  const start = snapshot.now;
  const before = new Map(snapshot.vms.map((vm) => [vm.metadata!.name!, vm.metadata?.labels?.[REVISION_LABEL]]));
  const steps = new Map<string, VMStep[]>();
  const waves: Wave[] = [];
  let world = structuredClone(snapshot);
  let first: FleetDecision | undefined;
  let last: FleetDecision | undefined;
  const maxRounds = 4 * (rolloutSpecOf(snapshot.fleet.spec).replicas + snapshot.vms.length) + 20;
  for (let round = 0; round < maxRounds; round++) {
    const { verdict, memory } = decideFleet(world);
    if (!('plan' in verdict)) {
      if (!first) {
        return { world, plan: {
          namespace: ref.namespace, name: ref.name, exists, state: 'stalled' in verdict ? 'Stalled' : 'Waiting',
          message: 'stalled' in verdict ? `${verdict.stalled.reason}: ${verdict.stalled.message}` : `${verdict.waiting.reason}: ${verdict.waiting.message}`,
          vms: [...before].map(([name, revision]) => ({ name, action: 'none', reason: 'nothing is done while the fleet is stalled or waiting', steps: [], ...(revision ? { fromRevision: revision, toRevision: revision } : {}) })),
          waves: [], held: [], summary: summaryOf([], [], 0),
        } };
      }
      break;
    }
    first ??= verdict;
    last = verdict;
    const wave = waveOf(verdict);
    if (wave.length === 0) {
      // When the reconciler would look again: a VM turning available, a backoff ending, a window opening.
      const next = Math.min(verdict.plan.nextCheckAt ?? Infinity, verdict.nextCheckAt ?? Infinity);
      if (!Number.isFinite(next) || next <= world.now || next - start > HORIZON_MS) break;
      world = { ...world, now: next, memory };
      continue;
    }
    for (const s of wave) steps.set(s.vm, [...(steps.get(s.vm) ?? []), { wave: waves.length + 1, action: s.action, reason: s.reason }]);
    const duration = Math.max(...wave.map((s) => durationOf(s.action, estimates)));
    waves.push({ index: waves.length + 1, startsAtSeconds: Math.round((world.now - start) / 1000), durationSeconds: duration, actions: wave.map((s) => ({ vm: s.vm, action: s.action })).sort((a, b) => byIndex(a.vm, b.vm)) });
    world = carryOut({ ...world, memory }, verdict, duration * 1000);
  }
  const after = new Map(world.vms.map((vm) => [vm.metadata!.name!, vm.metadata?.labels?.[REVISION_LABEL]]));
  const revision = last?.revision ?? first?.revision;
  const names = [...new Set([...before.keys(), ...after.keys(), ...steps.keys()])].sort(byIndex);
  const held = heldVMs(world, revision);
  const heldWhy = new Map(held.map((h) => [h.vm, h.why]));
  const vms: VMPlan[] = names.map((name) => {
    const list = steps.get(name) ?? [];
    const top = list.reduce<VMStep | undefined>((a, s) => (!a || rank(s.action) > rank(a.action) ? s : a), undefined);
    const fromRevision = before.get(name);
    const toRevision = after.get(name);
    return {
      name, action: top?.action ?? 'none',
      reason: top ? list.map((s) => s.reason).filter((r, i, all) => all.indexOf(r) === i).join('; ') : heldWhy.get(name) ?? (fromRevision === revision ? 'runs the update revision' : 'keeps its revision'),
      ...(list[0] ? { wave: list[0].wave } : {}), steps: list,
      ...(fromRevision !== undefined ? { fromRevision } : {}), ...(toRevision !== undefined ? { toRevision } : {}),
    };
  });
  const end = waves.length > 0 ? waves.at(-1)!.startsAtSeconds + waves.at(-1)!.durationSeconds : 0;
  return { world, plan: {
    namespace: ref.namespace, name: ref.name, exists, state: 'Planned',
    ...(first ? { imageVersion: first.image.version } : {}), ...(revision ? { updateRevision: revision } : {}),
    vms, waves, held, summary: summaryOf(vms, waves, end),
  } };
}

function summaryOf(vms: readonly VMPlan[], waves: readonly Wave[], makespanSeconds: number): FleetPlan['summary'] {
  const actions = Object.fromEntries(VM_ACTIONS.map((a) => [a, 0])) as Record<VMAction, number>;
  for (const vm of vms) actions[vm.action]++;
  return { changed: vms.filter((vm) => vm.action !== 'none').length, actions, waves: waves.length, makespanSeconds };
}

const byIndex = (a: string, b: string) => {
  const n = (s: string) => Number(/-(\d+)$/.exec(s)?.[1] ?? Number.NaN);
  return n(a) - n(b) || a.localeCompare(b);
};

function durationOf(action: VMAction, e: Estimates): number {
  switch (action) {
    case 'create':
    case 'restart':
      return e.restartSeconds;
    case 'liveMigration':
      return e.migrationSeconds;
    default:
      return WRITE_SECONDS;
  }
}

interface WaveStep {
  vm: string;
  action: VMAction;
  reason: string;
}

/** The actions of one decision, VM by VM, in the words of the plan. */
function waveOf(d: FleetDecision): WaveStep[] {
  const out: WaveStep[] = [];
  const why = (name: string, fallback: string) => {
    const runs = d.runs[name];
    const image = runs !== undefined && runs !== d.image.version ? [`image ${runs} → ${d.image.version}`] : [];
    return [...image, ...(d.changes[name]?.reasons ?? [])].join('; ') || fallback;
  };
  for (const h of d.heal) out.push({ vm: h.name, action: 'delete', reason: `replaced by autohealing: ${h.message}` });
  for (const a of d.plan.actions) {
    switch (a.type) {
      case 'Create':
        out.push({ vm: a.name, action: 'create', reason: a.reason === 'Surge' ? `surge VM at revision ${d.revision}` : `created at revision ${d.revision}` });
        break;
      case 'Delete':
        out.push({ vm: a.name, action: 'delete', reason: a.reason === 'ScaleDown' ? 'scaled down' : 'replaced by a surge VM' });
        break;
      case 'Recreate':
        out.push({ vm: a.name, action: 'diskRecreate', reason: why(a.name, 'dataVolumeTemplates changed') });
        break;
      case 'UpdateInPlace':
        out.push({ vm: a.name, action: a.change === 'metadata' ? 'metadataPatch' : 'liveUpdate', reason: why(a.name, a.message) });
        break;
      case 'Restart':
        out.push({ vm: a.name, action: 'restart', reason: a.drift ? `drift repair: ${a.message}` : why(a.name, a.message) });
        break;
    }
  }
  for (const a of d.remediation.plan.actions) {
    if (a.type === 'Migrate') out.push({ vm: a.vm, action: 'liveMigration', reason: `drift repair (${a.reason}): ${d.remediation.plan.reports.find((r) => r.vm === a.vm)?.drift.map((x) => x.message).join('; ') ?? a.reason}` });
    else if (a.type === 'Revert') out.push({ vm: a.vm, action: 'liveUpdate', reason: `reverts a hand edit: ${a.message}` });
  }
  return out;
}

/** A Ready VM and its Running VMI at `at`, on `node`. */
function running(vm: V1VirtualMachine, node: string | undefined, uid: string, bootedAt: string, previous: V1VirtualMachineInstance | undefined): { vm: V1VirtualMachine; vmi: V1VirtualMachineInstance } {
  const ready = { type: 'Ready', status: 'True', lastTransitionTime: bootedAt };
  const liveMigratable = previous?.status?.conditions?.find((c) => c.type === 'LiveMigratable') ?? { type: 'LiveMigratable', status: 'True' };
  return {
    vm: { ...vm, status: { ...vm.status, ready: true, printableStatus: 'Running', conditions: [ready as never] } },
    vmi: {
      apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance',
      metadata: { name: vm.metadata!.name!, namespace: vm.metadata!.namespace!, uid, labels: { ...vm.spec.template?.metadata?.labels }, creationTimestamp: bootedAt as never },
      spec: structuredClone(vm.spec.template!.spec!),
      status: { phase: 'Running', ...(node ? { nodeName: node } : {}), conditions: [ready as never, liveMigratable as never] },
    },
  };
}

/** A Ready node the VM's placement (with an added node selector) allows, its current one first. */
function nodeFor(vm: V1VirtualMachine, nodes: readonly V1Node[], current: string | undefined, added?: Record<string, string>): string | undefined {
  const placement = placementOf(vm.spec.template?.spec);
  const spec = added ? { ...placement, nodeSelector: { ...placement.nodeSelector, ...added } } : placement;
  const ready = (n: V1Node) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'False' && !n.spec?.unschedulable;
  const fits = nodes.filter((n) => ready(n) && placementViolations(spec, n).length === 0).map((n) => n.metadata!.name!).sort();
  return current && fits.includes(current) ? current : fits[0] ?? current;
}

/** The world after a decision's actions are carried out and `ms` have passed. */
function carryOut(world: FleetSnapshot, d: FleetDecision, ms: number): FleetSnapshot {
  const ref = fleetRef(world.fleet);
  const at = world.now + ms;
  const bootedAt = new Date(at).toISOString();
  const vms = new Map(world.vms.map((vm) => [vm.metadata!.name!, vm]));
  const vmis = new Map(world.vmis.map((vmi) => [vmi.metadata!.name!, vmi]));
  let uid = 0;
  const newUid = () => `planned-${at}-${uid++}`;
  const desired = (index: number): V1VirtualMachine => {
    const vm = desiredVM({ fleet: ref, spec: world.fleet.spec, image: d.image, index, revision: d.revision });
    return { ...vm, metadata: { ...vm.metadata, uid: newUid(), creationTimestamp: new Date(world.now).toISOString() as never, ownerReferences: vm.metadata?.ownerReferences } };
  };
  const boot = (vm: V1VirtualMachine) => {
    const name = vm.metadata!.name!;
    const previous = vmis.get(name);
    const r = running(vm, nodeFor(vm, world.nodes, previous?.status?.nodeName ?? undefined), newUid(), bootedAt, previous);
    vms.set(name, r.vm);
    vmis.set(name, r.vmi);
  };
  const remove = (name: string) => {
    vms.delete(name);
    vmis.delete(name);
  };
  for (const h of d.heal) remove(h.name);
  for (const a of d.plan.actions) {
    const current = vms.get(a.name);
    switch (a.type) {
      case 'Create':
        boot(desired(a.index));
        break;
      case 'Delete':
      case 'Recreate':
        remove(a.name);
        break;
      case 'Restart':
        if (current) boot(a.drift ? current : { ...desired(a.index), metadata: { ...desired(a.index).metadata, uid: current.metadata?.uid, creationTimestamp: current.metadata?.creationTimestamp } });
        break;
      case 'UpdateInPlace': {
        if (!current) break;
        const next = desired(a.index);
        const updated: V1VirtualMachine = { ...next, metadata: { ...next.metadata, uid: current.metadata?.uid, creationTimestamp: current.metadata?.creationTimestamp }, status: current.status };
        vms.set(a.name, updated);
        const vmi = vmis.get(a.name);
        if (vmi && a.change === 'liveUpdatable') vmis.set(a.name, liveUpdated(vmi, updated));
        break;
      }
    }
  }
  for (const a of d.remediation.plan.actions) {
    const vm = vms.get(a.vm);
    const vmi = vmis.get(a.vm);
    if (!vm || !vmi) continue;
    if (a.type === 'Migrate') {
      const node = nodeFor(vm, world.nodes, undefined, a.addedNodeSelector);
      vmis.set(a.vm, { ...vmi, status: { ...vmi.status, ...(node ? { nodeName: node } : {}), conditions: (vmi.status?.conditions ?? []).filter((c) => !HOT_CONDITIONS.includes(c.type)) } });
    } else if (a.type === 'Revert') {
      vms.set(a.vm, { ...desired(a.index), metadata: { ...desired(a.index).metadata, uid: vm.metadata?.uid, creationTimestamp: vm.metadata?.creationTimestamp }, status: vm.status });
    }
  }
  return { ...world, vms: [...vms.values()], vmis: [...vmis.values()], migrations: [], now: at };
}

/** The VMI conditions that say a live update waits for a live migration. */
const HOT_CONDITIONS = ['HotVCPUChange', 'HotMemoryChange', 'MigrationRequired'];

/** KubeVirt's live update of a running VMI: placement patched on, hotplug waiting for a live migration. */
function liveUpdated(vmi: V1VirtualMachineInstance, vm: V1VirtualMachine): V1VirtualMachineInstance {
  const template = vm.spec.template!.spec!;
  const spec = { ...vmi.spec, ...placementOf(template) } as V1VirtualMachineInstance['spec'];
  for (const f of ['nodeSelector', 'affinity', 'tolerations'] as const) if (template[f] === undefined) delete spec[f];
  const conditions = [...(vmi.status?.conditions ?? [])];
  const hot = (type: string) => conditions.push({ type, status: 'True' } as never);
  if (template.domain.cpu?.sockets !== vmi.spec.domain.cpu?.sockets) hot('HotVCPUChange');
  if (template.domain.memory?.guest !== vmi.spec.domain.memory?.guest) hot('HotMemoryChange');
  return { ...vmi, spec: { ...spec, domain: { ...spec.domain, cpu: template.domain.cpu, memory: template.domain.memory } as never }, status: { ...vmi.status, conditions } };
}

/** VMs left below the update revision, and why the rollout leaves them there (the status's heldBack). */
function heldVMs(world: FleetSnapshot, revision: string | undefined): FleetPlan['held'] {
  if (!revision) return [];
  const vms = world.vms.map((vm) => ({ name: vm.metadata!.name!, revision: vm.metadata?.labels?.[REVISION_LABEL] }));
  const held = heldBack(vms, revision, rolloutSpecOf(world.fleet.spec));
  if (!held) return [];
  const at = new Map(vms.map((vm) => [vm.name, vm.revision]));
  return held.vms.map((vm) => ({ vm, revision: at.get(vm), why: held.why }));
}

/**
 * The GoldenImage as its controller would record it once `spec` is applied: version phases with
 * the new deprecations, channels where the image core's channel resolution would point them, each
 * with its gate (a following channel waiting for its soak time or health gate says so). `health`
 * is the promotion gate's input (promotionHealth); without it a health gate waits.
 * Versions not recorded yet (not discovered or imported) stay unknown: fleets on them wait.
 */
export function proposedImage(live: GoldenImage, spec: GoldenImage['spec'], now: number, health?: (version: string) => HealthCount): GoldenImage {
  const recorded = live.status?.versions ?? [];
  const versions = applyDeprecations(recorded, spec.deprecations, new Date(now)).versions;
  const rejected = new Set(recordedRejections(versions).keys());
  const resolved = resolveChannels({ spec, versions, previous: live.status?.channels ?? [], now: new Date(now), rejected, ...(health ? { health } : {}) });
  return { ...live, spec, status: { ...live.status, versions, channels: channelRecords(resolved, [], new Date(now)) } };
}
