// Automatic rollback of following channels. When a version a following channel (follows latest,
// or another channel) moved to makes the fleets on that channel unhealthy, the version is
// rejected: `resolveChannels` then skips it for latest and every following channel, and a channel
// on it returns to its previousVersion. Pinned channels are never rolled back here: moving them
// back in Git is the user's rollback. Pure: plain data in, plain data out; the time is an input.
import { parseDuration } from '../duration.ts';
import { latestVersion } from './channels.ts';
import type { ChannelSpec, ImageSpec, RecordedChannel, RecordedVersion } from './types.ts';
import { isAvailable } from './types.ts';

export type Rejection = NonNullable<RecordedVersion['rejected']>;
export type RollbackReason = 'RolloutHalted' | 'Unhealthy';

/**
 * One VM of a fleet, judged against one version. A VM's spec names the new version as soon as
 * its fleet updates it, while the instance (VMI) it started before, on the old version, still
 * runs and is Ready: such a VM has not moved yet, and its readiness says nothing of the version.
 */
export interface FleetVM {
  name: string;
  /** The VM's spec boots the version. */
  specOnVersion: boolean;
  /** What its instance boots: the version, another one (started from an older spec), or no instance runs. */
  instance: 'onVersion' | 'other' | 'none';
  /** Ready, and for its fleet's minReadySeconds. */
  ready: boolean;
  /** Stopped on purpose (runStrategy Halted, or Manual with no instance): not meant to run, so neither healthy nor failing. */
  stopped?: boolean;
}

/**
 * The VM has moved onto the version: its spec boots it, and no instance of an older spec runs
 * (one that fails to start counts; one stopped on purpose does not).
 */
export const runsVersion = (vm: FleetVM): boolean => vm.specOnVersion && vm.instance !== 'other' && !vm.stopped;

/** The VM runs the version, on an instance of it, and is healthy there. */
export const healthyOnVersion = (vm: FleetVM): boolean => vm.specOnVersion && vm.instance === 'onVersion' && vm.ready;

/** One fleet that boots from a channel of this image, and its VMs judged against the channel's current version. */
export interface FleetOnChannel {
  /** `namespace/name` of the VMFleet. */
  fleet: string;
  channel: string;
  /** The fleet's rollout is halted on new VMs failing (Stalled, reason RolloutHalted). */
  rolloutHalted: boolean;
  /** Every VM of the fleet, moved onto the version or not. */
  vms: readonly FleetVM[];
}

export interface RollbackInput {
  spec: Pick<ImageSpec, 'channels' | 'clearedRejections'>;
  /** status.channels as last written. */
  channels: readonly RecordedChannel[];
  /** status.versions with deprecations overlaid, carrying the rejected marks written so far. */
  versions: readonly RecordedVersion[];
  fleets: readonly FleetOnChannel[];
  now: Date;
}

export interface Rollback {
  channel: string;
  from: string;
  to: string;
  reason: RollbackReason;
  message: string;
}

export interface RollbackDecision {
  /** The channels rolled back now, each from a version rejected now to its previous version. */
  rollbacks: Rollback[];
  /** Every rejection in force after this decision, by version (cleared ones gone, new ones added). */
  rejected: Map<string, Rejection>;
  /**
   * Moves judged healthy now, each with the version it moved to: `settledAt` = now is recorded on
   * a channel still on that version (one that moves on in the same round starts a new trial).
   */
  settled: { channel: string; version: string }[];
  /** When an unsettled channel's rollback window ends: decide again then. */
  retryAt?: Date;
}

export const DEFAULT_ROLLBACK_WINDOW = '10m';
const MAX_NAMED = 5;

function named(items: readonly string[]): string {
  const shown = items.slice(0, MAX_NAMED).join(', ');
  return items.length > MAX_NAMED ? `${shown} and ${items.length - MAX_NAMED} more` : shown;
}

/** A following channel rolls back unless its spec says `rollback.enabled: false`. */
export const rollsBack = (spec: ChannelSpec): boolean => spec.follows !== undefined && spec.version === undefined && spec.rollback?.enabled !== false;

/** The share of healthy VMs the channel's fleets need on a new version: rollback's, else promotion's. */
export const minHealthyPercentOf = (spec: ChannelSpec): number => spec.rollback?.minHealthyPercent ?? spec.promotion?.minHealthyPercent ?? 0;

function windowMsOf(spec: ChannelSpec): number {
  try {
    return parseDuration(spec.rollback?.window ?? DEFAULT_ROLLBACK_WINDOW);
  } catch {
    return parseDuration(DEFAULT_ROLLBACK_WINDOW);
  }
}

/** The rejected marks recorded in status.versions. */
export function recordedRejections(versions: readonly RecordedVersion[]): Map<string, Rejection> {
  return new Map(versions.flatMap((v) => (v.rejected ? [[v.name, v.rejected] as const] : [])));
}

/** The versions with exactly these rejected marks (phases untouched). */
export function withRejections(versions: readonly RecordedVersion[], rejected: ReadonlyMap<string, Rejection>): RecordedVersion[] {
  return versions.map((v) => {
    const mark = rejected.get(v.name);
    if (mark) return v.rejected === mark ? v : { ...v, rejected: mark };
    if (!v.rejected) return v;
    const { rejected: _cleared, ...rest } = v;
    return rest;
  });
}

/**
 * Which following channels roll back now, and which versions are rejected:
 * - rejections recorded before stay, except for versions in spec.clearedRejections (never
 *   rejected while listed);
 * - only the channel's own fleets count, and of their VMs only those that run X (runsVersion: the
 *   spec boots X and no instance of an older spec still runs); healthy ones run an instance of X
 *   Ready past minReadySeconds (healthyOnVersion);
 * - a following channel with rollback enabled, on version X moved to from previousVersion P (P
 *   still bootable, not Obsolete, not rejected) rolls back, until the move is settled, when a
 *   fleet on the channel halted its rollout while some of its VMs on X are not healthy
 *   (RolloutHalted, at once), or when its rollback window has passed since the move and fewer
 *   than minHealthyPercent of the channel's fleets' VMs on X are healthy (Unhealthy); once
 *   settled, X is no longer on trial (a rollout halting later is of another change);
 * - a move is settled before the window ends only once every VM of the channel's fleets runs X
 *   (none left to move) and that share is reached (all healthy when minHealthyPercent is 0); when
 *   the window has passed, it is settled unless it rolls back (with no VM on X there is nothing to
 *   hold against it).
 * X is then rejected; every channel on it leaves it (resolveChannels): one following a channel
 * returns to P, one following latest lands on the newest version not rejected (P or newer).
 */
export function decideRollbacks(input: RollbackInput): RollbackDecision {
  const cleared = new Set(input.spec.clearedRejections ?? []);
  const rejected = new Map([...recordedRejections(input.versions)].filter(([name]) => !cleared.has(name)));
  const versions = new Map(input.versions.map((v) => [v.name, v]));
  const recorded = new Map(input.channels.map((c) => [c.name, c]));
  const now = input.now.getTime();
  const rollbacks: Rollback[] = [];
  const settled: { channel: string; version: string }[] = [];
  let retryAt = Number.POSITIVE_INFINITY;

  const bootable = (name: string | undefined): boolean => {
    const v = name === undefined ? undefined : versions.get(name);
    return v !== undefined && isAvailable(v) && v.phase !== 'Obsolete' && !rejected.has(v.name);
  };

  for (const spec of input.spec.channels ?? []) {
    const channel = recorded.get(spec.name);
    const from = channel?.version;
    if (!rollsBack(spec) || from === undefined || cleared.has(from) || rejected.has(from)) continue;
    const to = channel?.previousVersion;
    if (to === undefined || to === from || !bootable(to)) continue;
    const fleets = input.fleets.filter((f) => f.channel === spec.name);
    const reject = (reason: RollbackReason, message: string): void => {
      rollbacks.push({ channel: spec.name, from, to, reason, message });
      rejected.set(from, { at: input.now.toISOString(), channel: spec.name, reason, message: message.slice(0, 1024) });
    };

    const failingOn = (f: FleetOnChannel) => f.vms.filter((vm) => runsVersion(vm) && !healthyOnVersion(vm)).map((vm) => vm.name);
    /** The fleets and their VMs that run `from` and are not healthy on it, for messages. */
    const failing = (among: readonly FleetOnChannel[]) => named(among.filter((f) => failingOn(f).length > 0).map((f) => `${f.fleet} (${named(failingOn(f))})`));
    // A settled move is no longer on trial: a rollout that halts later is of another change.
    if (channel?.settledAt !== undefined) continue;
    const halted = fleets.filter((f) => f.rolloutHalted && failingOn(f).length > 0);
    if (halted.length > 0) {
      reject('RolloutHalted', `channel ${spec.name} rolled back from ${from} to ${to}: the rollout of ${failing(halted)} halted on VMs on ${from} failing`);
      continue;
    }

    const onVersion = fleets.flatMap((f) => f.vms.filter(runsVersion));
    const healthy = onVersion.filter(healthyOnVersion).length;
    const minHealthy = minHealthyPercentOf(spec);
    const enough = onVersion.length > 0 && healthy * 100 >= minHealthy * onVersion.length;
    const allMoved = fleets.every((f) => f.vms.every(runsVersion));
    if (allMoved && enough && (minHealthy > 0 || onVersion.length === healthy)) {
      settled.push({ channel: spec.name, version: from });
      continue;
    }
    const since = Date.parse(channel?.since ?? '');
    const windowEnds = (Number.isNaN(since) ? now : since) + windowMsOf(spec);
    if (windowEnds > now) {
      retryAt = Math.min(retryAt, windowEnds);
      continue;
    }
    if (minHealthy > 0 && onVersion.length > 0 && !enough) {
      reject('Unhealthy', `channel ${spec.name} rolled back from ${from} to ${to}: ${healthy}/${onVersion.length} VMs on ${from} healthy after ${spec.rollback?.window ?? DEFAULT_ROLLBACK_WINDOW}, below ${minHealthy}% (not healthy: ${failing(fleets)})`);
      continue;
    }
    settled.push({ channel: spec.name, version: from });
  }
  // A channel following latest lands on the newest version not rejected, once all rejections of this round are in.
  const followsLatest = new Set((input.spec.channels ?? []).filter((c) => c.follows === 'latest').map((c) => c.name));
  const newest = latestVersion(input.versions, new Set(rejected.keys()))?.name;
  const landed = rollbacks.map((b) => {
    if (!followsLatest.has(b.channel) || newest === undefined || newest === b.to) return b;
    const message = b.message.replace(` to ${b.to}:`, ` to ${newest} (the latest version not rejected):`);
    rejected.set(b.from, { ...rejected.get(b.from)!, message: message.slice(0, 1024) });
    return { ...b, to: newest, message };
  });
  return { rollbacks: landed, rejected, settled, ...(Number.isFinite(retryAt) ? { retryAt: new Date(retryAt) } : {}) };
}
