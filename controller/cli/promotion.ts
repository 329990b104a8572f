// When a channel that follows another with promotion (a soak time, a health gate) would take up
// the followed channel's version, for `plan`. Pure. The decision is the image controller's own
// resolveChannels, asked again at each time the controller would look again (a soak ending, a VM
// waiting out minReadySeconds, the planned rollouts done), with the health of the fleets' VMs as
// they run now and, once the plans are carried out, as the plans leave them.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { GoldenImage } from '../api/objects.ts';
import { resolveChannels, type GateState, type HealthCount } from '../core/image/channels.ts';
import type { RecordedChannel, RecordedVersion } from '../core/image/types.ts';
import { healthyOnVersion, recordedRejections, runsVersion } from '../core/image/rollback.ts';
import { judgeFleetVM } from '../core/image/running.ts';
import type { FleetPlan } from './preview.ts';

/** The VMs of one fleet that uses the image, each with its instance, and the fleet's minReadySeconds. */
export interface FleetVMs {
  vms: readonly { vm: V1VirtualMachine; vmi: V1VirtualMachineInstance | undefined }[];
  minReadySeconds: number;
}

/** Each VM with the VMI of its name, as a fleet's VMs and their instances pair up. */
export function withInstances(vms: readonly V1VirtualMachine[], vmis: readonly V1VirtualMachineInstance[]): FleetVMs['vms'] {
  const byName = new Map(vmis.map((vmi) => [vmi.metadata?.name, vmi]));
  return vms.map((vm) => ({ vm, vmi: byName.get(vm.metadata?.name) }));
}

/**
 * The promotion gate's input as the image controller counts it (judgeFleetVM): of the fleets' VMs
 * that run `version` (spec and running instance boot it), those healthy on it, Ready for their
 * fleet's minReadySeconds; `nextHealthyAt` is when a Ready one will have waited that long.
 */
export function promotionHealth(image: GoldenImage, versions: readonly RecordedVersion[], fleets: readonly FleetVMs[], now: number): (version: string) => HealthCount {
  const ref = { namespace: image.metadata?.namespace ?? '', name: image.metadata?.name ?? '', uid: image.metadata?.uid ?? '' };
  return (version) => {
    const target = versions.find((v) => v.name === version);
    if (!target) return { healthy: 0, total: 0 };
    const judged = fleets.flatMap((f) => f.vms.map(({ vm, vmi }) => judgeFleetVM({ image: ref, spec: image.spec, version: target, vm, vmi, dataSources: [], minReadyMs: f.minReadySeconds * 1000, now })));
    const running = judged.filter(runsVersion);
    const nextHealthyAt = Math.min(...running.map((vm) => vm.healthyAt ?? Number.POSITIVE_INFINITY));
    return { healthy: running.filter(healthyOnVersion).length, total: running.length, ...(Number.isFinite(nextHealthyAt) ? { nextHealthyAt: new Date(nextHealthyAt) } : {}) };
  };
}

/** A following channel that the change leaves behind the channel it follows, and when it catches up. */
export interface Promotion {
  channel: string;
  follows: string;
  /** The followed channel's version, which it would take up. */
  version: string;
  /** The version it keeps meanwhile (none when it points at none). */
  stays?: string;
  /** Its gate right after the change is applied, as the image controller reports it. */
  gate: { state: GateState; message: string };
  /** When it would take the version up if every planned step succeeds (ISO 8601); absent when it would not by itself. */
  takesUpAt?: string;
  /** One line: when it takes the version up and after what, or why it does not. */
  forecast: string;
}

export interface ForecastInput {
  /** The GoldenImage as it would be recorded right after the change (proposedImage). */
  image: GoldenImage;
  /** Versions no following channel takes up (rolled back). */
  rejected: ReadonlySet<string>;
  now: number;
  /** When the planned changes of the fleets that use the image are done. */
  plannedUntil: number;
  /** The gate's health input at a time. */
  healthAt: (t: number) => (version: string) => HealthCount;
}

/** Looks at most this many times: enough for a soak, minReadySeconds and the plans' end. */
const MAX_LOOKS = 12;

const isoOf = (t: number) => new Date(t).toISOString();

/**
 * The following channels that would not be at their followed channel's version right after the
 * change, and when the image controller would move them: resolveChannels at each moment it would
 * look again, until each has moved or nothing more would happen by itself.
 */
export function forecastPromotions(input: ForecastInput): Promotion[] {
  const { image, now } = input;
  const specs = image.spec.channels ?? [];
  const versions = image.status?.versions ?? [];
  const recorded = new Map((image.status?.channels ?? []).map((c) => [c.name, c]));
  const gates = new Map((image.status?.channels ?? []).map((c) => [c.name, c.gate]));
  const behind = specs.flatMap((spec) => {
    const followed = spec.follows === undefined || spec.follows === 'latest' ? undefined : recorded.get(spec.follows)?.version;
    const at = recorded.get(spec.name)?.version;
    return followed !== undefined && followed !== at ? [{ spec, version: followed, stays: at }] : [];
  });
  const movedAt = new Map<string, number>();
  const lastGate = new Map<string, { state: GateState; message: string }>();
  let previous: RecordedChannel[] = image.status?.channels ?? [];
  let t = now;
  for (let look = 0; look < MAX_LOOKS && movedAt.size < behind.length; look++) {
    const resolved = resolveChannels({ spec: image.spec, versions, previous, now: new Date(t), rejected: input.rejected, health: input.healthAt(t) });
    previous = resolved.channels;
    let next = t < input.plannedUntil ? input.plannedUntil : Number.POSITIVE_INFINITY;
    for (const b of behind) {
      if (movedAt.has(b.spec.name)) continue;
      const gate = resolved.gates.find((g) => g.channel === b.spec.name)!;
      if (resolved.channels.find((c) => c.name === b.spec.name)?.version === b.version) movedAt.set(b.spec.name, t);
      else {
        lastGate.set(b.spec.name, gate);
        if (gate.retryAt && gate.retryAt.getTime() > t) next = Math.min(next, gate.retryAt.getTime());
      }
    }
    if (!Number.isFinite(next)) break;
    t = next;
  }
  return behind.map(({ spec, version, stays }) => {
    const gate = gates.get(spec.name) ?? lastGate.get(spec.name) ?? { state: 'Waiting' as const, message: '' };
    const at = movedAt.get(spec.name);
    const forecast = at !== undefined
      ? `takes up ${version} at ${isoOf(at)}${at > now ? ` (${gate.message})` : ''}`
      : `does not take up ${version} by itself: ${lastGate.get(spec.name)?.message ?? gate.message}`;
    return {
      channel: spec.name, follows: spec.follows!, version, ...(stays !== undefined ? { stays } : {}),
      gate: { state: gate.state, message: gate.message ?? '' }, ...(at !== undefined ? { takesUpAt: isoOf(at) } : {}), forecast,
    };
  });
}

/** A fleet's VMs once its plan is carried out, and when that is. */
export interface PlannedFleetVMs extends FleetVMs {
  until: number;
}

/**
 * The promotions of one GoldenImage change: the gate counts `running` (the fleets' VMs as they
 * run now) until every plan of `after` (the same fleets once planned) is carried out, then those.
 */
export function forecastImage(image: GoldenImage, running: readonly FleetVMs[], after: readonly PlannedFleetVMs[], now: number): Promotion[] {
  const versions = image.status?.versions ?? [];
  const plannedUntil = Math.max(now, ...after.map((f) => f.until));
  return forecastPromotions({
    image, now, plannedUntil,
    rejected: new Set(recordedRejections(versions).keys()),
    healthAt: (t) => promotionHealth(image, versions, t < plannedUntil ? running : after, t),
  });
}

/** A fleet on a channel the change leaves behind: its VMs that do nothing say why they wait. */
export function onWaitingChannel(plan: FleetPlan, promotion: Promotion): FleetPlan {
  const why = `channel ${promotion.channel} stays at ${promotion.stays ?? 'no version'}: ${promotion.forecast}`;
  return { ...plan, channelWaits: promotion, vms: plan.vms.map((vm) => (vm.action === 'none' ? { ...vm, reason: why } : vm)) };
}
