// A GoldenImage's status summary: its Ready, Reconciling and Stalled conditions (kstatus style),
// availableVersions and latestVersion. Pure. The shell carries lastTransitionTime over with
// `withTransitionTimes` from ../conditions.ts.
import { condition, type NewCondition } from '../conditions.ts';
import type { ChannelGate } from './channels.ts';
import { latestVersion } from './channels.ts';
import type { RecordedChannel, RecordedVersion } from './types.ts';
import { isAvailable } from './types.ts';

/** A permanent failure with the source's own words: the reason is CamelCase (SourceUnreachable, Unauthorized, TagNotFound, …). */
export interface ImageProblem {
  reason: string;
  message: string;
}

/** A version whose import failed permanently (reason ImportFailed, ChecksumMismatch, …). */
export interface FailedImport extends ImageProblem {
  version: string;
}

export interface ImageConditionsInput {
  generation: number;
  /** Discovery failed in a way retrying alone will not fix. */
  sourceProblem?: ImageProblem;
  /** status.versions with deprecations overlaid. */
  versions: readonly RecordedVersion[];
  channels: readonly RecordedChannel[];
  /** One per spec channel, as `resolveChannels` returns them. */
  gates: readonly ChannelGate[];
  /** Versions whose import is under way. */
  importing: readonly string[];
  failed: readonly FailedImport[];
  /** Versions that latestVersion skips (rolled back). */
  rejected?: ReadonlySet<string>;
}

export interface ImageSummary {
  conditions: NewCondition[];
  availableVersions: number;
  latestVersion?: string;
}

const MAX_LISTED = 5;

/** `a; b; c and 2 more`: the first few items of a list, for a message. */
function listed(items: readonly string[], separator = '; '): string {
  const shown = items.slice(0, MAX_LISTED).join(separator);
  return items.length > MAX_LISTED ? `${shown} and ${items.length - MAX_LISTED} more` : shown;
}

function importingText(importing: readonly string[], versions: ReadonlyMap<string, RecordedVersion>): string {
  return `importing ${listed(importing.map((name) => {
    const progress = versions.get(name)?.progress;
    return progress ? `${name} (${progress})` : name;
  }), ', ')}`;
}

/** Why a channel does not point at a version VMs can boot, or undefined when it does. */
function channelProblem(gate: ChannelGate, channel: RecordedChannel | undefined, versions: ReadonlyMap<string, RecordedVersion>): string | undefined {
  if (channel?.version === undefined) return `channel ${gate.channel} points at no version (${gate.message})`;
  const v = versions.get(channel.version);
  if (!v) return `channel ${gate.channel} points at ${channel.version}, which is not recorded`;
  if (!isAvailable(v)) return `channel ${gate.channel} points at ${v.name}, which is ${v.phase}`;
  return undefined;
}

function stalledBy(input: ImageConditionsInput): ImageProblem | undefined {
  if (input.sourceProblem) return input.sourceProblem;
  const [first, ...more] = input.failed;
  if (first) {
    const others = more.length > 0 ? ` (and ${listed(more.map((f) => f.version), ', ')} failed too)` : '';
    return {
      reason: first.reason,
      message: `the import of ${first.version} failed: ${first.message}${others}; it stays Failed and no following channel takes it up: fix the source and publish a new version`,
    };
  }
  const blocked = input.gates.filter((g) => g.state === 'Blocked');
  if (blocked.length > 0) return { reason: 'ChannelsBlocked', message: listed(blocked.map((g) => `channel ${g.channel}: ${g.message}`)) };
  return undefined;
}

/**
 * The image's conditions (without lastTransitionTime), availableVersions and latestVersion:
 * - Ready is True when at least one version is available, every channel points at an available
 *   version (Ready, Deprecated or Obsolete) and no import is under way; its message names the
 *   latest version;
 * - Stalled is True when something needs a person: a source problem (its reason and the server's
 *   words), else a permanently failed import, else a Blocked channel (channels following each
 *   other, a rejected version);
 * - Reconciling is True while an import is under way or a channel gate waits (soak, health, a
 *   version not Ready yet).
 */
export function imageConditions(input: ImageConditionsInput): ImageSummary {
  const g = input.generation;
  const versions = new Map(input.versions.map((v) => [v.name, v]));
  const channels = new Map(input.channels.map((c) => [c.name, c]));
  const availableVersions = input.versions.filter(isAvailable).length;
  const latest = latestVersion(input.versions, input.rejected)?.name;
  const conditions: NewCondition[] = [];

  const channelProblems = input.gates.map((gate) => channelProblem(gate, channels.get(gate.channel), versions)).filter((p): p is string => p !== undefined);
  const importing = input.importing.length > 0 ? importingText(input.importing, versions) : undefined;
  if (channelProblems.length > 0) {
    conditions.push(condition('Ready', 'False', 'ChannelsNotReady', `${listed(channelProblems)}; fleets on these channels wait`, g));
  } else if (importing) {
    conditions.push(condition('Ready', 'False', 'Importing', `${importing}; Ready when the imports finish`, g));
  } else if (availableVersions === 0) {
    conditions.push(condition('Ready', 'False', 'NoVersionAvailable', 'no version is available yet; Ready once the first version is discovered and Ready', g));
  } else {
    const newest = latest === undefined ? 'no version is current (every available one is deprecated)' : `latest version ${latest}`;
    const each = input.gates.length > 0 ? '; every channel points at an available version' : '';
    conditions.push(condition('Ready', 'True', 'VersionsAvailable', `${newest}; ${availableVersions} available${each}`, g));
  }

  const stalled = stalledBy(input);
  const waiting = input.gates.filter((gate) => gate.state === 'Waiting').map((gate) => `channel ${gate.channel}: ${gate.message}`);
  if (importing || waiting.length > 0) {
    const reason = importing ? 'Importing' : 'ChannelsWaiting';
    conditions.push(condition('Reconciling', 'True', reason, [importing, ...waiting].filter((p) => p !== undefined).join('; '), g));
  } else if (stalled) {
    conditions.push(condition('Reconciling', 'False', stalled.reason, 'stalled: see the Stalled condition', g));
  } else {
    conditions.push(condition('Reconciling', 'False', 'Reconciled', 'every channel is where its spec says', g));
  }

  conditions.push(stalled ? condition('Stalled', 'True', stalled.reason, stalled.message, g) : condition('Stalled', 'False', 'AsExpected', 'discovery and imports work', g));

  return { conditions, availableVersions, ...(latest !== undefined ? { latestVersion: latest } : {}) };
}
