// Where a GoldenImage's channels point, and how deprecations show in version phases.
// Pure: plain data in, plain data out; the time is an input.
import { parseDuration } from '../duration.ts';
import type { ChannelSpec, ImageSpec, RecordedChannel, RecordedVersion, VersionPhase } from './types.ts';
import { isAvailable } from './types.ts';
import { byDiscovery } from './versions.ts';

export type Deprecation = NonNullable<ImageSpec['deprecations']>[number];

/**
 * Whether a version's data exists and VMs can boot it. Deprecated and Obsolete are overlays that
 * `applyDeprecations` puts on a Ready version, so underneath they are still Ready.
 */
export const isMaterialised = (v: Pick<RecordedVersion, 'phase'>): boolean => isAvailable(v);

/**
 * The newest version (by discoveredAt, then name) that is Ready: not Deprecated or Obsolete (pass
 * the versions as `applyDeprecations` returns them), not Failed or still importing, and not in
 * `rejected` (versions a rollback took a channel off).
 */
export function latestVersion(versions: readonly RecordedVersion[], rejected: ReadonlySet<string> = new Set()): RecordedVersion | undefined {
  let newest: RecordedVersion | undefined;
  for (const v of versions) {
    if (v.phase !== 'Ready' || rejected.has(v.name)) continue;
    if (!newest || byDiscovery(newest, v) < 0) newest = v;
  }
  return newest;
}

const effectiveAt = (d: Deprecation): number => (d.effectiveFrom === undefined ? Number.NEGATIVE_INFINITY : Date.parse(d.effectiveFrom));

/**
 * The versions with deprecations overlaid: a materialised version (Ready, or already shown as
 * Deprecated or Obsolete) whose deprecation is effective (effectiveFrom unset or not after `now`)
 * shows the deprecation's state, otherwise Ready; versions in other phases are returned as they
 * are. An effectiveFrom that does not parse never takes effect (the schema refuses it anyway).
 * `nextChange` is the earliest effectiveFrom after `now` of a recorded version, to requeue at.
 */
export function applyDeprecations(versions: readonly RecordedVersion[], deprecations: readonly Deprecation[] | undefined, now: Date): { versions: RecordedVersion[]; nextChange?: Date } {
  const byVersion = new Map((deprecations ?? []).map((d) => [d.version, d]));
  const t = now.getTime();
  let next = Number.POSITIVE_INFINITY;
  const overlaid = versions.map((v): RecordedVersion => {
    const d = byVersion.get(v.name);
    const at = d ? effectiveAt(d) : Number.NaN;
    if (at > t && at < next) next = at;
    if (!isMaterialised(v)) return v;
    const phase: VersionPhase = d && at <= t ? d.state : 'Ready';
    return phase === v.phase ? v : { ...v, phase };
  });
  return Number.isFinite(next) ? { versions: overlaid, nextChange: new Date(next) } : { versions: overlaid };
}

export type GateState = 'Open' | 'Waiting' | 'Blocked';

/** Why a channel is, or is not yet, where its spec says. */
export interface ChannelGate {
  channel: string;
  state: GateState;
  message: string;
  /** When waiting ends by itself (a soak time): requeue then. */
  retryAt?: Date;
}

export interface HealthCount {
  healthy: number;
  total: number;
  /** When a VM counted unhealthy turns healthy by itself (Ready, waiting out minReadySeconds). */
  nextHealthyAt?: Date;
}

export interface ResolveChannelsInput {
  spec: Pick<ImageSpec, 'channels'>;
  /** status.versions with deprecations overlaid (`applyDeprecations`). */
  versions: readonly RecordedVersion[];
  /** status.channels as last written. */
  previous: readonly RecordedChannel[];
  now: Date;
  /** How many of the VMs that run a version are healthy, over the fleets that use this image. */
  health?: (version: string) => HealthCount;
  /** Versions no following channel may take up (rolled back, until a person clears them). */
  rejected?: ReadonlySet<string>;
}

export interface ResolveChannelsResult {
  /** One entry per spec channel that points at a version, in spec order. */
  channels: RecordedChannel[];
  /** One gate per spec channel, in spec order. */
  gates: ChannelGate[];
}

interface Resolved {
  version?: string;
  since?: string;
  previousVersion?: string;
  settledAt?: string;
}

/** The channels on a cycle of follows, each mapped to the cycle read from it (`a → b → a`). */
function followCycles(channels: readonly ChannelSpec[]): Map<string, string> {
  const follows = new Map(channels.filter((c) => c.follows !== undefined).map((c) => [c.name, c.follows!]));
  const cycles = new Map<string, string>();
  for (const start of follows.keys()) {
    const path: string[] = [];
    let at: string | undefined = start;
    while (at !== undefined && follows.has(at) && !path.includes(at)) {
      path.push(at);
      at = follows.get(at);
    }
    if (at === start) cycles.set(start, [...path, start].join(' → '));
  }
  return cycles;
}

/**
 * Where each channel points now, and why it is or is not yet where its spec says:
 * - pinned (`version:`): at that version as soon as it is recorded, in any phase, even before it
 *   is Ready and even when it is Failed or Deleted (the fleets on the channel wait until it is
 *   Ready, and report the failure); absent while it is not recorded;
 * - `follows: latest`: at `latestVersion` (promotion applies only to following a channel); while
 *   there is none, the channel keeps the version it
 *   had if VMs can still boot that one, else it points nowhere (gate Waiting);
 * - `follows: <channel>`: resolved after the channel it follows; takes that channel's version
 *   when it is Ready and not rejected, without `promotion` at once, with `promotion.soakTime` only
 *   once the version has been on the followed channel that long (from its `since`), with
 *   `promotion.minHealthyPercent` > 0 only once at least that share of the VMs running the
 *   version are healthy (no VM running it, or no health data, means waiting, never a pass).
 *   Until then it keeps its version while VMs can boot it. Channels whose follows form a cycle
 *   (the schema forbids following oneself only) are Blocked and keep their version likewise.
 * A following channel thus only ever moves to a Ready version, and never stays on a Failed,
 * Deleted, Obsolete or rejected one; when its version was rejected it returns to its
 * `previousVersion` (a rollback, with no soak or gate: fleets ran that version before).
 * `since`, `previousVersion` and `settledAt` keep their values while the version stays the same;
 * a move sets `since` to `now`, `previousVersion` to the version left, and clears `settledAt`.
 */
export function resolveChannels(input: ResolveChannelsInput): ResolveChannelsResult {
  const specs = input.spec.channels ?? [];
  const rejected = input.rejected ?? new Set<string>();
  const nowISO = input.now.toISOString();
  const versions = new Map(input.versions.map((v) => [v.name, v]));
  const previous = new Map(input.previous.map((c) => [c.name, c]));
  const cycles = followCycles(specs);
  const resolved = new Map<string, Resolved>();
  const gates = new Map<string, ChannelGate>();

  const at = (name: string, version: string | undefined): Resolved => {
    if (version === undefined) return {};
    const old = previous.get(name);
    if (old?.version === version) {
      return {
        version,
        since: old.since ?? nowISO,
        ...(old.previousVersion !== undefined ? { previousVersion: old.previousVersion } : {}),
        ...(old.settledAt !== undefined ? { settledAt: old.settledAt } : {}),
      };
    }
    return { version, since: nowISO, ...(old?.version !== undefined ? { previousVersion: old.version } : {}) };
  };
  /** Whether a following channel may stay on (or return to) a version: VMs boot it, it is not Obsolete or rejected. */
  const keepable = (v: string | undefined): string | undefined => {
    const recorded = v === undefined ? undefined : versions.get(v);
    return recorded && isMaterialised(recorded) && recorded.phase !== 'Obsolete' && !rejected.has(recorded.name) ? recorded.name : undefined;
  };
  /**
   * The version a following channel keeps while its gate is not open: the one it had, or, when
   * that one was rejected (a rollback), the one before it.
   */
  const kept = (name: string): string | undefined => {
    const old = previous.get(name);
    if (old?.version !== undefined && rejected.has(old.version)) return keepable(old.previousVersion);
    return keepable(old?.version);
  };
  const settle = (name: string, version: string | undefined, state: GateState, message: string, retryAt?: Date): Resolved => {
    const r = at(name, version);
    resolved.set(name, r);
    gates.set(name, { channel: name, state, message, ...(retryAt ? { retryAt } : {}) });
    return r;
  };
  const stay = (name: string, state: GateState, why: string, retryAt?: Date): Resolved => {
    const v = kept(name);
    return settle(name, v, state, v === undefined ? `${why}; points at no version until then` : `${why}; stays at ${v} until then`, retryAt);
  };

  const resolve = (spec: ChannelSpec): Resolved => {
    const done = resolved.get(spec.name);
    if (done) return done;
    const name = spec.name;
    if (spec.version !== undefined) {
      const v = versions.get(spec.version);
      if (!v) return settle(name, undefined, 'Waiting', `pinned to ${spec.version}, which is not recorded yet`);
      const note = v.phase === 'Ready' ? ''
        : v.phase === 'Failed' || v.phase === 'Deleted' ? ` (${v.phase}; fleets on the channel cannot boot it and report so: pin another version)`
        : ` (${v.phase}; fleets on the channel wait until it is Ready)`;
      return settle(name, v.name, 'Open', `pinned to ${v.name}${note}`);
    }
    const cycle = cycles.get(name);
    if (cycle !== undefined) {
      const v = kept(name);
      return settle(name, v, 'Blocked', `channels ${cycle} follow each other; make one follow latest or pin a version${v === undefined ? '' : ` (stays at ${v})`}`);
    }
    if (spec.follows === 'latest') {
      const latest = latestVersion(input.versions, rejected);
      if (!latest) return stay(name, 'Waiting', 'no version is Ready yet');
      return settle(name, latest.name, 'Open', `at the latest version ${latest.name}`);
    }
    const followedSpec = specs.find((c) => c.name === spec.follows);
    if (!followedSpec) return stay(name, 'Blocked', `follows ${spec.follows ?? '(nothing)'}, which is no channel of this image`);
    const followed = resolve(followedSpec);
    const target = followed.version === undefined ? undefined : versions.get(followed.version);
    const ch = followedSpec.name;
    if (!target) return stay(name, 'Waiting', `channel ${ch} points at no version yet`);
    // Already there, or returning there from a rejected version (a rollback needs no soak or gate).
    if (kept(name) === target.name) return settle(name, target.name, 'Open', `at ${target.name}, as channel ${ch}`);
    if (rejected.has(target.name)) return stay(name, 'Blocked', `${target.name} on channel ${ch} was rejected and is not taken up until a person clears it`);
    if (target.phase !== 'Ready') return stay(name, 'Waiting', `${target.name} on channel ${ch} is ${target.phase}, not Ready`);
    return promote(spec, ch, target.name, followed.since);
  };

  const promote = (spec: ChannelSpec, ch: string, version: string, followedSince: string | undefined): Resolved => {
    const name = spec.name;
    let soak: number;
    try {
      soak = spec.promotion?.soakTime ? parseDuration(spec.promotion.soakTime) : 0;
    } catch {
      return stay(name, 'Blocked', `promotion.soakTime "${spec.promotion?.soakTime ?? ''}" is not a duration such as 24h`);
    }
    if (soak > 0) {
      const since = followedSince === undefined ? input.now.getTime() : Date.parse(followedSince);
      const until = new Date((Number.isNaN(since) ? input.now.getTime() : since) + soak);
      if (until.getTime() > input.now.getTime()) return stay(name, 'Waiting', `${version} is soaking on ${ch} until ${until.toISOString()}`, until);
    }
    const minHealthy = spec.promotion?.minHealthyPercent ?? 0;
    if (minHealthy > 0) {
      if (!input.health) return stay(name, 'Waiting', `no health data for ${version} yet (promotion needs ${minHealthy}% of its VMs healthy)`);
      const { healthy, total, nextHealthyAt } = input.health(version);
      if (total <= 0) return stay(name, 'Waiting', `no VM runs ${version} yet (promotion needs ${minHealthy}% of its VMs healthy)`);
      if (healthy * 100 < minHealthy * total) return stay(name, 'Waiting', `${healthy}/${total} VMs on ${version} are healthy, promotion needs ${minHealthy}%`, nextHealthyAt);
    }
    return settle(name, version, 'Open', `at ${version}, promoted from channel ${ch}`);
  };

  for (const spec of specs) resolve(spec);
  const channels: RecordedChannel[] = [];
  for (const spec of specs) {
    const r = resolved.get(spec.name)!;
    if (r.version !== undefined) {
      channels.push({
        name: spec.name, version: r.version, since: r.since!,
        ...(r.previousVersion !== undefined ? { previousVersion: r.previousVersion } : {}),
        ...(r.settledAt !== undefined ? { settledAt: r.settledAt } : {}),
      });
    }
  }
  return { channels, gates: specs.map((s) => gates.get(s.name)!) };
}

/**
 * status.channels: one entry per spec channel, in spec order, with where it points (if anywhere)
 * and its gate; the channels in `settled` that stay on the version judged get `settledAt` = now
 * (a channel that moved on in this round is on trial again, its new move not yet judged).
 */
export function channelRecords(resolved: ResolveChannelsResult, settled: readonly { channel: string; version: string }[], now: Date): RecordedChannel[] {
  const byName = new Map(resolved.channels.map((c) => [c.name, c]));
  const settledNow = new Map(settled.map((x) => [x.channel, x.version]));
  return resolved.gates.map((gate) => {
    const c = byName.get(gate.channel);
    const settledAt = c?.settledAt ?? (c && c.version !== undefined && settledNow.get(c.name) === c.version ? now.toISOString() : undefined);
    return {
      ...(c ?? { name: gate.channel }),
      ...(settledAt !== undefined ? { settledAt } : {}),
      gate: { state: gate.state, message: gate.message.slice(0, 1024) },
    };
  });
}
