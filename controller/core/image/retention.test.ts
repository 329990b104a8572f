import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { confirmDeletion, protections, retentionPlan, type VersionUse } from './retention.ts';
import type { RecordedVersion, VersionPhase } from './types.ts';

const DV = { type: 'DataVolume' as const, size: '1Gi' };
const at = (day: number): string => new Date(Date.UTC(2026, 0, 1 + day)).toISOString();
const v = (name: string, phase: VersionPhase, day?: number): RecordedVersion => ({ name, phase, ...(day !== undefined ? { discoveredAt: at(day) } : {}) });
const noUse: VersionUse = { channels: [], pinned: [], used: new Map(), clonesReading: new Set() };

describe('retentionPlan', () => {
  const versions = [v('v1', 'Ready', 1), v('v2', 'Deprecated', 2), v('v3', 'Obsolete', 3), v('v4', 'Ready', 4), v('v5', 'Ready', 5)];

  it('deletes the oldest unused versions beyond keepUnused, oldest first', () => {
    expect(retentionPlan({ ...noUse, versions, keepUnused: 2, storage: DV })).toEqual({
      delete: ['v1', 'v2', 'v3'],
      keep: [{ version: 'v5', reasons: ['WithinKeepUnused'] }, { version: 'v4', reasons: ['WithinKeepUnused'] }],
    });
    expect(retentionPlan({ ...noUse, versions, keepUnused: 0, storage: DV }).delete).toEqual(['v1', 'v2', 'v3', 'v4', 'v5']);
    expect(retentionPlan({ ...noUse, versions, keepUnused: 100, storage: DV }).delete).toEqual([]);
  });

  it('never deletes what a channel, a VM, a clone or spec.versions holds, and does not count those towards keepUnused', () => {
    const plan = retentionPlan({
      versions: [...versions, v('v6', 'Ready', 6)],
      keepUnused: 1,
      storage: DV,
      channels: [{ name: 'stable', version: 'v1' }, { name: 'candidate' }],
      used: new Map([['v2', 3], ['v3', 0]]),
      clonesReading: new Set(['v5']),
      pinned: ['v4'],
    });
    expect(plan.delete).toEqual(['v3']);
    expect(plan.keep).toEqual([
      { version: 'v6', reasons: ['WithinKeepUnused'] },
      { version: 'v5', reasons: ['CloneReading'] },
      { version: 'v4', reasons: ['Pinned'] },
      { version: 'v2', reasons: ['InUse'] },
      { version: 'v1', reasons: ['Channel'] },
    ]);
  });

  it('keeps only the newest failure, and never imports under way or deleted versions', () => {
    const plan = retentionPlan({
      ...noUse,
      versions: [v('f1', 'Failed', 1), v('r1', 'Ready', 2), v('f2', 'Failed', 3), v('i1', 'Importing', 4), v('d1', 'Discovered', 5), v('x', 'Deleted', 0), v('f3', 'Failed', 6)],
      keepUnused: 0,
      storage: DV,
    });
    expect(plan.delete).toEqual(['f1', 'r1', 'f2']);
    expect(plan.keep).toEqual([
      { version: 'f3', reasons: ['LatestFailure'] },
      { version: 'd1', reasons: ['NotMaterialised'] },
      { version: 'i1', reasons: ['NotMaterialised'] },
    ]);
  });

  it('deletes nothing under ContainerDisk storage', () => {
    expect(retentionPlan({ ...noUse, versions, keepUnused: 0, storage: { type: 'ContainerDisk' } }).delete).toEqual([]);
    expect(retentionPlan({ ...noUse, versions, keepUnused: 0, storage: undefined }).delete).toEqual([]);
  });

  it('orders by discoveredAt, then by position in status, with no time as oldest', () => {
    const plan = retentionPlan({ ...noUse, versions: [v('b', 'Ready', 2), v('a', 'Ready', 2), v('old', 'Ready'), v('c', 'Ready', 1)], keepUnused: 1, storage: DV });
    expect(plan.delete).toEqual(['old', 'c', 'b']);
    expect(plan.keep).toEqual([{ version: 'a', reasons: ['WithinKeepUnused'] }]);
  });
});

describe('confirmDeletion', () => {
  it('drops planned deletions that became protected meanwhile', () => {
    const plan = { delete: ['v1', 'v2', 'v3', 'v4', 'v5'], keep: [] };
    const live: VersionUse = { channels: [{ name: 'stable', version: 'v1' }], used: new Map([['v2', 1]]), clonesReading: new Set(['v3']), pinned: ['v4'] };
    expect(confirmDeletion(plan, live)).toEqual(['v5']);
    expect(protections('v1', live)).toEqual(['Channel']);
  });
});

// ---------------------------------------------------------------------------------------------
// Safety invariant 3 over random histories: versions appear in discovery order, channels move
// (also back, a rollback), VMs and clones start and stop using versions; the plan is made on one
// moment of that history and confirmed on a later one.

type Event =
  | { kind: 'channel'; channel: number; version: number }
  | { kind: 'use'; version: number; vms: number }
  | { kind: 'clone'; version: number; reading: boolean }
  | { kind: 'pin'; version: number; pinned: boolean };

const PHASES: VersionPhase[] = ['Ready', 'Ready', 'Deprecated', 'Obsolete', 'Failed', 'Importing', 'Discovered', 'Deleted'];
const event = (n: number): fc.Arbitrary<Event> =>
  fc.oneof(
    fc.record({ kind: fc.constant('channel' as const), channel: fc.nat(2), version: fc.nat(n - 1) }),
    fc.record({ kind: fc.constant('use' as const), version: fc.nat(n - 1), vms: fc.nat(3) }),
    fc.record({ kind: fc.constant('clone' as const), version: fc.nat(n - 1), reading: fc.boolean() }),
    fc.record({ kind: fc.constant('pin' as const), version: fc.nat(n - 1), pinned: fc.boolean() }),
  );

interface World {
  channels: (string | undefined)[];
  used: Map<string, number>;
  clones: Set<string>;
  pinned: Set<string>;
}

function apply(world: World, events: readonly Event[]): World {
  const next: World = { channels: [...world.channels], used: new Map(world.used), clones: new Set(world.clones), pinned: new Set(world.pinned) };
  for (const e of events) {
    const name = `v${e.version}`;
    if (e.kind === 'channel') next.channels[e.channel] = name;
    else if (e.kind === 'use') next.used.set(name, e.vms);
    else if (e.kind === 'clone') {
      if (e.reading) next.clones.add(name);
      else next.clones.delete(name);
    } else if (e.pinned) next.pinned.add(name);
    else next.pinned.delete(name);
  }
  return next;
}

const useOf = (w: World): VersionUse => ({
  channels: w.channels.map((version, i) => ({ name: `c${i}`, ...(version !== undefined ? { version } : {}) })),
  pinned: [...w.pinned],
  used: w.used,
  clonesReading: w.clones,
});
const isProtected = (w: World, name: string): boolean => w.channels.includes(name) || (w.used.get(name) ?? 0) > 0 || w.clones.has(name) || w.pinned.has(name);

describe('retention invariant (property)', () => {
  it('never deletes a version a channel points at or a VM uses, and deletes exactly the oldest unused beyond keepUnused', () => {
    const history = fc.integer({ min: 1, max: 12 }).chain((n) =>
      fc.record({
        phases: fc.array(fc.constantFrom(...PHASES), { minLength: n, maxLength: n }),
        before: fc.array(event(n), { maxLength: 30 }),
        between: fc.array(event(n), { maxLength: 10 }),
        keepUnused: fc.oneof(fc.constant(0), fc.nat(4), fc.constant(100)),
      }),
    );
    fc.assert(
      fc.property(history, ({ phases, before, between, keepUnused }) => {
        // Discovery order is the order of the history: v0 is the oldest.
        const versions = phases.map((phase, i) => v(`v${i}`, phase, i));
        const cached = apply({ channels: [], used: new Map(), clones: new Set(), pinned: new Set() }, before);
        const plan = retentionPlan({ ...useOf(cached), versions, keepUnused, storage: DV });

        for (const name of plan.delete) expect(isProtected(cached, name)).toBe(false);
        const live = apply(cached, between);
        const confirmed = confirmDeletion(plan, useOf(live));
        for (const name of confirmed) {
          expect(isProtected(live, name)).toBe(false);
          expect(plan.delete).toContain(name);
        }

        // Exactly the oldest unused available versions beyond keepUnused, and the failures but the newest.
        const unused = versions.filter((x) => ['Ready', 'Deprecated', 'Obsolete'].includes(x.phase) && !isProtected(cached, x.name)).map((x) => x.name);
        const failed = versions.filter((x) => x.phase === 'Failed').map((x) => x.name);
        const newestFailure = failed[failed.length - 1];
        const expectedAvailable = unused.slice(0, Math.max(0, unused.length - keepUnused));
        const expectedFailed = failed.filter((name) => name !== newestFailure && !isProtected(cached, name));
        const expected = versions.map((x) => x.name).filter((name) => expectedAvailable.includes(name) || expectedFailed.includes(name));
        expect(plan.delete).toEqual(expected);

        // Every version not Deleted is either deleted or kept with a reason, never both.
        const kept = plan.keep.map((k) => k.version);
        expect([...kept, ...plan.delete].sort()).toEqual(versions.filter((x) => x.phase !== 'Deleted').map((x) => x.name).sort());
        for (const k of plan.keep) expect(k.reasons.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });
});
