import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseDuration } from '../duration.ts';
import { channelRecords, resolveChannels } from './channels.ts';
import { decideRollbacks, healthyOnVersion, minHealthyPercentOf, runsVersion, withRejections, type FleetOnChannel, type FleetVM, type RollbackInput } from './rollback.ts';
import type { ChannelSpec, RecordedChannel, RecordedVersion, VersionPhase } from './types.ts';

const t0 = new Date('2026-05-01T12:00:00.000Z');
const at = (minutes: number): Date => new Date(t0.getTime() + minutes * 60_000);
const v = (name: string, phase: VersionPhase, minutesAgo = 0): RecordedVersion => ({ name, phase, discoveredAt: at(-minutesAgo).toISOString() });
const specs: ChannelSpec[] = [
  { name: 'candidate', follows: 'latest' },
  { name: 'stable', follows: 'candidate', promotion: { soakTime: '30m', minHealthyPercent: 100 }, rollback: { window: '10m' } },
  { name: 'pinned', version: 'b' },
];
/** A VM moved onto the version: healthy, or its instance of the version not Ready. */
const moved = (name: string, healthy: boolean): FleetVM => ({ name, specOnVersion: true, instance: 'onVersion', ready: healthy });
const fleetOf = (channel: string, vms: FleetVM[], rolloutHalted = false): FleetOnChannel => ({ fleet: `apps/${channel}-fleet`, channel, rolloutHalted, vms });
const fleet = (channel: string, vms: [string, boolean][], rolloutHalted = false): FleetOnChannel => fleetOf(channel, vms.map(([name, healthy]) => moved(name, healthy)), rolloutHalted);
const decide = (over: Partial<RollbackInput>) => decideRollbacks({ spec: { channels: specs }, channels: [], versions: [v('a', 'Ready', 60), v('b', 'Ready', 5)], fleets: [], now: t0, ...over });
const onB = (name: string, since = at(-1)): RecordedChannel => ({ name, version: 'b', previousVersion: 'a', since: since.toISOString() });

describe('decideRollbacks', () => {
  it('rolls a following channel back at once when its fleet halts on VMs on the new version, naming them', () => {
    const d = decide({ channels: [onB('candidate')], fleets: [fleet('candidate', [['c-0', true], ['c-1', false]], true)] });
    expect(d.rollbacks).toEqual([{ channel: 'candidate', from: 'b', to: 'a', reason: 'RolloutHalted', message: expect.stringContaining('apps/candidate-fleet (c-1)') }]);
    expect(d.rejected.get('b')).toMatchObject({ channel: 'candidate', reason: 'RolloutHalted', at: t0.toISOString() });
  });

  it('never rolls back a pinned channel, one with rollback disabled, or one with no previous version to return to', () => {
    const halted = [fleet('pinned', [['p-0', false]], true), fleet('stable', [['s-0', false]], true), fleet('candidate', [['c-0', false]], true)];
    const off = specs.map((s) => (s.name === 'stable' ? { ...s, rollback: { enabled: false } } : s));
    const d = decideRollbacks({ spec: { channels: off }, channels: [onB('pinned'), onB('stable'), { name: 'candidate', version: 'b', since: t0.toISOString() }], versions: [v('a', 'Ready'), v('b', 'Ready')], fleets: halted, now: t0 });
    expect(d.rollbacks).toEqual([]);
    expect(d.rejected.size).toBe(0);
  });

  it('judges the healthy share only when the window has passed, and settles a healthy move', () => {
    const sick = [fleet('stable', [['s-0', true], ['s-1', false]])];
    const early = decide({ channels: [onB('stable', at(-5))], fleets: sick });
    expect([early.rollbacks, early.retryAt]).toEqual([[], at(5)]);
    const late = decide({ channels: [onB('stable', at(-11))], fleets: sick });
    expect(late.rollbacks.map((r) => [r.reason, r.to])).toEqual([['Unhealthy', 'a']]);
    expect(late.rollbacks[0]?.message).toContain('1/2 VMs on b healthy');
    const healthy = decide({ channels: [onB('stable', at(-2))], fleets: [fleet('stable', [['s-0', true], ['s-1', true]])] });
    expect([healthy.rollbacks, healthy.settled]).toEqual([[], [{ channel: 'stable', version: 'b' }]]);
    const settledThenSick = decide({ channels: [{ ...onB('stable', at(-30)), settledAt: at(-20).toISOString() }], fleets: sick });
    expect(settledThenSick.rollbacks).toEqual([]);
    // A rollout halting after the move settled is of a later change, not of b.
    const settledThenHalted = decide({ channels: [{ ...onB('stable', at(-30)), settledAt: at(-20).toISOString() }], fleets: sick.map((f) => ({ ...f, rolloutHalted: true })) });
    expect(settledThenHalted.rollbacks).toEqual([]);
  });

  it('does not settle a move on VMs still running an instance of the previous version, however Ready', () => {
    // The fleet updated one VM's spec to b and has not restarted it yet; the other two wait their turn.
    const updatedNotRestarted: FleetVM = { name: 's-2', specOnVersion: true, instance: 'other', ready: true };
    const waiting = (name: string): FleetVM => ({ name, specOnVersion: false, instance: 'other', ready: true });
    const d = decide({ channels: [onB('stable', at(-1))], fleets: [fleetOf('stable', [waiting('s-0'), waiting('s-1'), updatedNotRestarted])] });
    expect([d.settled, d.rollbacks, d.retryAt]).toEqual([[], [], at(9)]);
    // Restarted and healthy on b, while two VMs are still to move: not settled either.
    const partly = decide({ channels: [onB('stable', at(-1))], fleets: [fleetOf('stable', [waiting('s-0'), waiting('s-1'), moved('s-2', true)])] });
    expect([partly.settled, partly.rollbacks]).toEqual([[], []]);
    // Every VM on b and healthy: settled before the window ends.
    const all = decide({ channels: [onB('stable', at(-1))], fleets: [fleetOf('stable', [moved('s-0', true), moved('s-1', true), moved('s-2', true)])] });
    expect(all.settled).toEqual([{ channel: 'stable', version: 'b' }]);
  });

  it('counts a VM that failed to start on the version against it, and only the channel\'s own fleets', () => {
    const failedToStart: FleetVM = { name: 's-1', specOnVersion: true, instance: 'none', ready: false };
    const candidateHealthy = fleet('candidate', [['c-0', true], ['c-1', true], ['c-2', true]]);
    const stable = fleetOf('stable', [moved('s-0', true), failedToStart, { name: 's-2', specOnVersion: false, instance: 'other', ready: true }]);
    const early = decide({ channels: [onB('candidate', at(-40)), onB('stable', at(-1))], fleets: [candidateHealthy, stable] });
    expect([early.settled, early.rollbacks]).toEqual([[{ channel: 'candidate', version: 'b' }], []]);
    const late = decide({ channels: [onB('candidate', at(-40)), onB('stable', at(-11))], fleets: [candidateHealthy, stable] });
    expect(late.rollbacks).toEqual([{ channel: 'stable', from: 'b', to: 'a', reason: 'Unhealthy', message: expect.stringContaining('1/2 VMs on b healthy') }]);
    expect(late.rollbacks[0]?.message).toContain('(not healthy: apps/stable-fleet (s-1))');
    // A halted rollout names the VMs on b that fail, not the one still on the old version.
    const halted = decide({ channels: [onB('stable', at(-1))], fleets: [{ ...stable, rolloutHalted: true }] });
    expect(halted.rollbacks).toEqual([expect.objectContaining({ channel: 'stable', reason: 'RolloutHalted', message: expect.stringContaining('apps/stable-fleet (s-1) halted') })]);
  });

  it('keeps recorded rejections and drops the ones spec.clearedRejections lists', () => {
    const rejected = { at: at(-9).toISOString(), reason: 'RolloutHalted' };
    const versions = [v('a', 'Ready'), { ...v('b', 'Ready'), rejected }, { ...v('c', 'Ready'), rejected }];
    const d = decideRollbacks({ spec: { channels: specs, clearedRejections: ['c'] }, channels: [], versions, fleets: [], now: t0 });
    expect([...d.rejected.keys()]).toEqual(['b']);
    expect(withRejections(versions, d.rejected).map((x) => x.rejected !== undefined)).toEqual([false, true, false]);
  });
});

describe('rollback with resolveChannels', () => {
  it('returns a promoted channel to its previous version without soak, and latest skips the version', () => {
    const versions = [v('a', 'Ready', 60), v('b', 'Ready', 5)];
    const channels = [onB('candidate', at(-40)), onB('stable', at(-1))];
    const d = decide({ versions, channels, fleets: [fleet('stable', [['s-0', false]], true)] });
    const r = resolveChannels({ spec: { channels: specs }, versions: withRejections(versions, d.rejected), previous: channels, now: t0, rejected: new Set(d.rejected.keys()), health: () => ({ healthy: 1, total: 1 }) });
    const recorded = channelRecords(r, d.settled, t0);
    expect(recorded.find((c) => c.name === 'candidate')).toMatchObject({ version: 'a', previousVersion: 'b' });
    expect(recorded.find((c) => c.name === 'stable')).toMatchObject({ version: 'a', previousVersion: 'b', since: t0.toISOString(), gate: { state: 'Open' } });
    expect(recorded.find((c) => c.name === 'pinned')).toMatchObject({ version: 'b' });
  });
});

describe('channelRecords', () => {
  it('records a settled move only on a channel still on the version judged: one that moved on in the same round is on trial', () => {
    // candidate was on b, every VM healthy on it: settled now. In the same round a newer version c
    // appeared and candidate (following latest) moved onto it.
    const versions = [v('a', 'Ready', 60), v('b', 'Ready', 5), v('c', 'Ready', 0)];
    const channels = [onB('candidate', at(-2)), { name: 'stable', version: 'a', since: at(-60).toISOString() }];
    const d = decide({ versions, channels, fleets: [fleet('candidate', [['c-0', true], ['c-1', true]])] });
    expect(d.settled).toEqual([{ channel: 'candidate', version: 'b' }]);
    const r = resolveChannels({ spec: { channels: specs }, versions, previous: channels, now: t0, rejected: new Set(), health: () => ({ healthy: 2, total: 2 }) });
    const recorded = channelRecords(r, d.settled, t0);
    expect(recorded.find((c) => c.name === 'candidate')).toMatchObject({ version: 'c', previousVersion: 'b', since: t0.toISOString() });
    expect(recorded.find((c) => c.name === 'candidate')?.settledAt).toBeUndefined();
    // Without the newer version, the same decision settles candidate on b.
    const stays = resolveChannels({ spec: { channels: specs }, versions: versions.slice(0, 2), previous: channels, now: t0, rejected: new Set(), health: () => ({ healthy: 2, total: 2 }) });
    expect(channelRecords(stays, d.settled, t0).find((c) => c.name === 'candidate')).toMatchObject({ version: 'b', settledAt: t0.toISOString() });
  });
});

const PHASES: VersionPhase[] = ['Ready', 'Ready', 'Ready', 'Importing', 'Failed', 'Deprecated', 'Obsolete'];
const NAMES = ['v1', 'v2', 'v3', 'v4', 'v5'];
const propSpecs: ChannelSpec[] = [
  { name: 'candidate', follows: 'latest', rollback: { window: '10m', minHealthyPercent: 50 } },
  { name: 'stable', follows: 'candidate', promotion: { soakTime: '20m', minHealthyPercent: 100 }, rollback: { window: '10m' } },
];

const arbitraryVM = fc.record({
  name: fc.constant(''),
  specOnVersion: fc.boolean(),
  instance: fc.constantFrom<FleetVM['instance']>('onVersion', 'other', 'none'),
  ready: fc.boolean(),
});

describe('promotion and rollback (property)', () => {
  it('ignores how Ready the VMs are that do not run the version, and fleets of other channels', () => {
    const channels = [onB('candidate', at(-40)), onB('stable', at(-1))];
    const fleets = fc.array(fc.record({ channel: fc.constantFrom('candidate', 'stable'), halted: fc.boolean(), vms: fc.array(arbitraryVM, { maxLength: 4 }) }), { maxLength: 4 });
    fc.assert(fc.property(fleets, fc.integer({ min: -20, max: 20 }), fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }), (drawn, minutes, flips) => {
      const asFleets = (flip: boolean): FleetOnChannel[] => drawn.map((f, i) => ({
        fleet: `apps/f${i}`, channel: f.channel, rolloutHalted: f.halted,
        vms: f.vms.map((vm, j) => ({ ...vm, name: `f${i}-${j}`, ready: flip && !runsVersion(vm) && flips[(i * 4 + j) % 16]! ? !vm.ready : vm.ready })),
      }));
      const now = at(minutes);
      const d = decideRollbacks({ spec: { channels: specs }, channels, versions: [v('a', 'Ready', 60), v('b', 'Ready', 50)], fleets: asFleets(false), now });
      expect(decideRollbacks({ spec: { channels: specs }, channels, versions: [v('a', 'Ready', 60), v('b', 'Ready', 50)], fleets: asFleets(true), now })).toEqual(d);
      // Stable's decision is the same without candidate's fleets, unless candidate rolled b back first (b is then rejected for all).
      const own = decideRollbacks({ spec: { channels: specs }, channels, versions: [v('a', 'Ready', 60), v('b', 'Ready', 50)], fleets: asFleets(false).filter((f) => f.channel === 'stable'), now });
      if (!d.rollbacks.some((r) => r.channel === 'candidate')) {
        expect(own.rollbacks.filter((r) => r.channel === 'stable')).toEqual(d.rollbacks.filter((r) => r.channel === 'stable'));
        expect(own.settled.some((x) => x.channel === 'stable')).toBe(d.settled.some((x) => x.channel === 'stable'));
      }
    }), { numRuns: 300 });
  });

  it('never points a following channel at a rejected, Obsolete or unbootable version, never advances without soak and gate, and rolls back to the previous version', () => {
    const step = fc.record({
      minutes: fc.integer({ min: 0, max: 30 }),
      // Versions appear in order; each step may change the phase of any.
      appeared: fc.integer({ min: 1, max: NAMES.length }),
      phases: fc.array(fc.constantFrom(...PHASES), { minLength: NAMES.length, maxLength: NAMES.length }),
      halted: fc.boolean(),
      vms: fc.array(arbitraryVM, { minLength: 1, maxLength: 4 }),
      cleared: fc.subarray(NAMES),
    });
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 25 }), (steps) => {
      let now = t0.getTime();
      let channels: RecordedChannel[] = [];
      let marks: RecordedVersion[] = [];
      let appeared = 0;
      for (const s of steps) {
        appeared = Math.max(appeared, s.appeared);
        now += s.minutes * 60_000;
        const nowDate = new Date(now);
        const versions = withRejections(NAMES.slice(0, appeared).map((name, i) => ({ ...v(name, s.phases[i]!, 1000 - i), ...(marks.find((m) => m.name === name)?.rejected ? { rejected: marks.find((m) => m.name === name)!.rejected! } : {}) })), new Map());
        const spec = { channels: propSpecs, clearedRejections: s.cleared };
        const vmsOf = (channel: string) => s.vms.map((vm, i) => ({ ...vm, name: `${channel}-${i}` }));
        const fleets: FleetOnChannel[] = propSpecs.map((c) => ({ fleet: `apps/${c.name}`, channel: c.name, rolloutHalted: s.halted, vms: vmsOf(c.name) }));
        const d = decideRollbacks({ spec, channels, versions, fleets, now: nowDate });
        const rejected = new Set(d.rejected.keys());
        const health = () => ({ healthy: s.vms.filter(healthyOnVersion).length, total: s.vms.filter(runsVersion).length });
        const marked = withRejections(versions, d.rejected);
        const r = resolveChannels({ spec, versions: marked, previous: channels, now: nowDate, rejected, health });
        const next = channelRecords(r, d.settled, nowDate);
        const byName = new Map(marked.map((x) => [x.name, x]));
        for (const c of next) {
          if (c.version === undefined) continue;
          const version = byName.get(c.version);
          // Following channels only ever rest on bootable, not Obsolete, not rejected versions.
          expect(version && ['Ready', 'Deprecated'].includes(version.phase)).toBe(true);
          expect(rejected.has(c.version)).toBe(false);
          const old = channels.find((o) => o.name === c.name);
          if (old?.version === c.version) continue;
          // A move made in this round is on trial: whatever settled before it was of the version left.
          expect(c.settledAt).toBeUndefined();
          // A rolled-back channel lands where the decision says (or is promoted further, checked below).
          if (d.rollbacks.some((b) => b.channel === c.name && b.to === c.version)) continue;
          const returned = old?.version !== undefined && rejected.has(old.version) && c.version === old.previousVersion;
          if (returned) continue;
          // Any other move is onto a Ready version, and for stable only past soak and gate.
          expect(version?.phase).toBe('Ready');
          if (c.name === 'stable') {
            const candidate = next.find((o) => o.name === 'candidate');
            expect(candidate?.version).toBe(c.version);
            expect(Date.parse(candidate!.since!) + parseDuration('20m')).toBeLessThanOrEqual(now);
            expect(s.vms.filter(runsVersion).every(healthyOnVersion)).toBe(true);
          }
        }
        // A move settles before its window ends only once every VM of the channel's fleets runs
        // the version and enough of those are healthy on an instance of it.
        for (const { channel: name, version } of d.settled) {
          const old = channels.find((c) => c.name === name)!;
          expect(old.version).toBe(version);
          if (Date.parse(old.since!) + parseDuration('10m') <= now) continue;
          const running = s.vms.filter(runsVersion);
          expect(running.length).toBe(s.vms.length);
          expect(running.filter(healthyOnVersion).length * 100).toBeGreaterThanOrEqual(minHealthyPercentOf(propSpecs.find((c) => c.name === name)!) * running.length);
        }
        // After a rollback the channel is on the version the decision names: stable on its previous one.
        for (const b of d.rollbacks.filter((x) => x.channel === 'candidate')) expect(next.find((c) => c.name === 'candidate')?.version).toBe(b.to);
        for (const b of d.rollbacks.filter((x) => x.channel === 'stable')) expect(b.to).toBe(channels.find((c) => c.name === 'stable')?.previousVersion);
        channels = next;
        marks = marked;
      }
    }), { numRuns: 300 });
  });
});
