// Which versions a GoldenImage records in status.versions, and what discovered versions are named.
// Pure: plain data in, plain data out; the time is an input.
import type { FoundVersion, PinnedVersion, RecordedVersion } from './types.ts';

/** status.versions holds at most this many entries (the schema's maxItems). */
export const MAX_RECORDED_VERSIONS = 512;

const MAX_NAME_LENGTH = 63;
const IDENTITY_HEX_LENGTH = 10;

/** The hex that identifies a version in its name: a digest's or checksum's hex, or a PVC uid without dashes. */
export function identityHex(found: FoundVersion): string {
  const raw = found.kind === 'registry' ? found.digest : found.kind === 'http' ? found.checksum : found.uid;
  const hex = raw.includes(':') ? raw.slice(raw.indexOf(':') + 1) : raw;
  return hex.toLowerCase().replace(/[^a-z0-9]/g, '');
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * The name of a version discovered at `discoveredAt` (UTC): `<YYYYMMDD>-<HHMMSS>-<hex>`, where
 * `<hex>` is the first 10 hex digits of the version's identity (a digest's or checksum's hex, or
 * the PVC uid without dashes). For example `20261101-043000-3f9a0c1b2d` for a digest
 * `sha256:3f9a0c1b2d…` found at 2026-11-01T04:30:00Z. The same time and identity always give the
 * same name; names sort lexicographically in discovery order (to the second); the name is a DNS
 * label of 26 characters, so a collision suffix (`-2`, `-3`, …) still fits in 63.
 */
export function versionName(discoveredAt: Date, found: FoundVersion): string {
  const d = discoveredAt;
  const date = `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
  const hex = identityHex(found).slice(0, IDENTITY_HEX_LENGTH);
  return hex ? `${date}-${time}-${hex}` : `${date}-${time}`;
}

/**
 * What makes two versions the same version, whatever their names: the digest (registry), the
 * checksum together with the URL (http; a pinned version without url reads source.http.url), or
 * the PVC uid (pvc). Undefined for a recorded entry that has none of them.
 */
export function recordedIdentity(v: Pick<RecordedVersion, 'digest' | 'checksum' | 'url' | 'sourceUID'>, sourceURL?: string): string | undefined {
  if (v.digest) return `digest:${v.digest.toLowerCase()}`;
  if (v.checksum) return `checksum:${v.checksum.toLowerCase()}@${v.url ?? sourceURL ?? ''}`;
  if (v.sourceUID) return `uid:${v.sourceUID.toLowerCase()}`;
  return undefined;
}

/** The identity of a found version, comparable with `recordedIdentity`. */
export function foundIdentity(found: FoundVersion): string {
  switch (found.kind) {
    case 'registry': return `digest:${found.digest.toLowerCase()}`;
    case 'http': return `checksum:${found.checksum.toLowerCase()}@${found.url}`;
    case 'pvc': return `uid:${found.uid.toLowerCase()}`;
  }
}

export interface RecordVersionsInput {
  recorded: readonly RecordedVersion[];
  found: readonly FoundVersion[];
  pinned: readonly PinnedVersion[];
  source: FoundVersion['kind'];
  /** source.http.url: the URL of a pinned http version that sets none. */
  sourceURL?: string;
  now: Date;
}

export interface RecordVersionsResult {
  versions: RecordedVersion[];
  /** Names of the entries added, pinned ones first, in the order they were added. */
  added: string[];
  /** How many of the oldest Deleted entries were dropped to stay within MAX_RECORDED_VERSIONS. */
  dropped: number;
  /**
   * How many found versions were not recorded because every entry is in use (none Deleted is
   * left to drop); they are recorded when a later look finds them and there is room.
   */
  deferred: number;
}

const timeOf = (iso: string | undefined): number => {
  const t = iso === undefined ? Number.NaN : Date.parse(iso);
  return Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
};

/** Orders versions by discoveredAt, then name; entries without a readable time come first. */
export function byDiscovery(a: Pick<RecordedVersion, 'name' | 'discoveredAt'>, b: Pick<RecordedVersion, 'name' | 'discoveredAt'>): number {
  const ta = timeOf(a.discoveredAt);
  const tb = timeOf(b.discoveredAt);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** `base`, or `base-2`, `base-3`, … : the first that no entry holds, within 63 characters. */
function freeName(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) {
    const suffix = `-${n}`;
    const name = `${base.slice(0, MAX_NAME_LENGTH - suffix.length)}${suffix}`;
    if (!taken.has(name)) return name;
  }
}

function recordFound(found: FoundVersion, name: string, discoveredAt: string): RecordedVersion {
  switch (found.kind) {
    case 'registry': return { name, digest: found.digest, phase: 'Discovered', discoveredAt };
    case 'http': return { name, checksum: found.checksum, url: found.url, phase: 'Discovered', discoveredAt };
    case 'pvc': return { name, sourceUID: found.uid, phase: 'Discovered', discoveredAt };
  }
}

function recordPinned(pinned: PinnedVersion, source: FoundVersion['kind'], sourceURL: string | undefined, discoveredAt: string): RecordedVersion {
  const url = pinned.url ?? (source === 'http' && pinned.checksum ? sourceURL : undefined);
  return {
    name: pinned.name,
    ...(pinned.digest ? { digest: pinned.digest } : {}),
    ...(pinned.checksum ? { checksum: pinned.checksum } : {}),
    ...(url ? { url } : {}),
    phase: 'Discovered',
    discoveredAt,
  };
}

/** Drops the oldest Deleted entries (by deletedAt, then discovery) until at most `limit` remain. */
function dropOldestDeleted(versions: RecordedVersion[], limit: number): { kept: RecordedVersion[]; dropped: number } {
  const excess = versions.length - limit;
  if (excess <= 0) return { kept: versions, dropped: 0 };
  const deleted = versions
    .filter((v) => v.phase === 'Deleted')
    .sort((a, b) => timeOf(a.deletedAt ?? a.discoveredAt) - timeOf(b.deletedAt ?? b.discoveredAt) || byDiscovery(a, b));
  const drop = new Set(deleted.slice(0, excess).map((v) => v.name));
  return { kept: versions.filter((v) => !drop.has(v.name)), dropped: drop.size };
}

/**
 * The versions status records after a look at the source:
 * - recorded entries never change here: a version is immutable once recorded (name, digest,
 *   checksum, url, sourceUID, discoveredAt); other modules move its phase;
 * - every entry of spec.versions not yet recorded by name is recorded (phase Discovered,
 *   discoveredAt now), before the found versions, so a pinned name wins over a discovered one;
 * - a pinned entry whose identity is already recorded under another name keeps that record's
 *   discoveredAt (pinning an old digest does not make it the newest version);
 * - a found version whose identity (digest; checksum and url; PVC uid) is already recorded, under
 *   any name, pinned or discovered, in any phase, adds nothing: a tag that moves back to an old
 *   digest creates no duplicate, and a Deleted version found again stays Deleted (its data is
 *   gone; pin it under a new name to bring it back);
 * - a new found version is named by `versionName(now, found)`, with `-2`, `-3`, … when that name
 *   is taken; found versions of a kind other than `source` are ignored (a source just changed);
 * - the list stays within MAX_RECORDED_VERSIONS: no entry but a Deleted one is ever dropped; when
 *   over, the oldest Deleted go first (`dropped`; a dropped identity counts as new if found again),
 *   and found versions that still do not fit wait for a later look (`deferred`).
 * The result is ordered by discoveredAt, then name.
 */
export function recordVersions(input: RecordVersionsInput): RecordVersionsResult {
  const { source, sourceURL } = input;
  const at = input.now.toISOString();
  const names = new Set(input.recorded.map((v) => v.name));
  const identities = new Set<string>();
  for (const v of input.recorded) {
    const id = recordedIdentity(v, sourceURL);
    if (id) identities.add(id);
  }
  const versions = [...input.recorded];
  const added: string[] = [];
  const add = (v: RecordedVersion): void => {
    versions.push(v);
    names.add(v.name);
    added.push(v.name);
    const id = recordedIdentity(v, sourceURL);
    if (id) identities.add(id);
  };

  // Pinned entries are recorded whatever the room: channels and fleets name them (spec.versions
  // has at most 128), and only Deleted entries make room. A pin of something already recorded
  // under another name keeps that record's discovery time, so it does not pass for a newer version.
  const firstSeen = new Map<string, string>();
  for (const v of input.recorded) {
    const id = recordedIdentity(v, sourceURL);
    if (id && v.discoveredAt && (!firstSeen.has(id) || byDiscovery(v, { name: '', discoveredAt: firstSeen.get(id) }) < 0)) firstSeen.set(id, v.discoveredAt);
  }
  for (const pinned of input.pinned) {
    if (names.has(pinned.name)) continue;
    const record = recordPinned(pinned, source, sourceURL, at);
    const id = recordedIdentity(record, sourceURL);
    const seen = id ? firstSeen.get(id) : undefined;
    add(seen ? { ...record, discoveredAt: seen } : record);
  }

  let deferred = 0;
  let live = versions.filter((v) => v.phase !== 'Deleted').length;
  for (const found of input.found) {
    const id = foundIdentity(found);
    if (found.kind !== source || identities.has(id)) continue;
    if (live >= MAX_RECORDED_VERSIONS) {
      deferred++;
      identities.add(id);
      continue;
    }
    add(recordFound(found, freeName(versionName(input.now, found), names), at));
    live++;
  }

  const { kept, dropped } = dropOldestDeleted(versions, MAX_RECORDED_VERSIONS);
  return { versions: kept.sort(byDiscovery), added, dropped, deferred };
}
