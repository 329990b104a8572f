import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { ChannelSpec, RecordedChannel, RecordedVersion, VersionPhase } from './types.ts';
import { applyDeprecations, isMaterialised, latestVersion, resolveChannels, type ResolveChannelsInput } from './channels.ts';

const t0 = new Date('2026-05-01T12:00:00.000Z');
const at = (hours: number): Date => new Date(t0.getTime() + hours * 3_600_000);
const v = (name: string, phase: VersionPhase, hoursAgo = 0): RecordedVersion => ({ name, phase, discoveredAt: at(-hoursAgo).toISOString() });
const gate = (r: ReturnType<typeof resolveChannels>, name: string) => r.gates.find((g) => g.channel === name)!;
const ch = (r: ReturnType<typeof resolveChannels>, name: string) => r.channels.find((c) => c.name === name);
const resolve = (channels: ChannelSpec[], versions: RecordedVersion[], over: Partial<ResolveChannelsInput> = {}) =>
  resolveChannels({ spec: { channels }, versions, previous: [], now: t0, ...over });

describe('latestVersion', () => {
  it('is the newest Ready version by discoveredAt, then name', () => {
    expect(latestVersion([v('a', 'Ready', 3), v('c', 'Ready', 1), v('b', 'Ready', 1)])?.name).toBe('c');
    expect(latestVersion([v('a', 'Ready', 3), v('b', 'Importing', 1), v('c', 'Failed', 0)])?.name).toBe('a');
    expect(latestVersion([v('a', 'Deprecated', 3), v('b', 'Obsolete', 1)])).toBeUndefined();
    expect(latestVersion([])).toBeUndefined();
  });
  it('skips rejected versions', () => {
    expect(latestVersion([v('a', 'Ready', 3), v('b', 'Ready', 1)], new Set(['b']))?.name).toBe('a');
  });
});

describe('applyDeprecations', () => {
  const versions = [v('a', 'Ready'), v('b', 'Deprecated'), v('c', 'Obsolete'), v('d', 'Importing'), v('e', 'Ready')];
  it('overlays effective deprecations on materialised versions only', () => {
    const r = applyDeprecations(versions, [
      { version: 'a', state: 'Obsolete' },
      { version: 'd', state: 'Deprecated' },
      { version: 'e', state: 'Deprecated', effectiveFrom: at(-1).toISOString() },
    ], t0);
    expect(r.versions.map((x) => `${x.name}=${x.phase}`)).toEqual(['a=Obsolete', 'b=Ready', 'c=Ready', 'd=Importing', 'e=Deprecated']);
    expect(r.nextChange).toBeUndefined();
  });
  it('waits for effectiveFrom and says when the next one takes effect', () => {
    const r = applyDeprecations(versions, [
      { version: 'a', state: 'Deprecated', effectiveFrom: at(2).toISOString() },
      { version: 'e', state: 'Obsolete', effectiveFrom: at(1).toISOString() },
      { version: 'gone', state: 'Obsolete', effectiveFrom: at(0.5).toISOString() },
      { version: 'b', state: 'Deprecated', effectiveFrom: t0.toISOString() },
    ], t0);
    expect(r.versions.map((x) => x.phase)).toEqual(['Ready', 'Deprecated', 'Ready', 'Importing', 'Ready']);
    expect(r.nextChange).toEqual(at(1));
    expect(applyDeprecations(r.versions, [{ version: 'e', state: 'Obsolete', effectiveFrom: at(1).toISOString() }], at(1)).versions[4]!.phase).toBe('Obsolete');
  });
  it('keeps the materialised state readable under the overlay', () => {
    const r = applyDeprecations(versions, [{ version: 'a', state: 'Obsolete' }], t0);
    expect(r.versions.filter(isMaterialised).map((x) => x.name)).toEqual(['a', 'b', 'c', 'e']);
  });
});

describe('resolveChannels', () => {
  it('points a pinned channel at its version as soon as it is recorded, in any phase', () => {
    const r = resolve([{ name: 'p', version: 'a' }, { name: 'q', version: 'x' }], [v('a', 'Importing')]);
    expect(ch(r, 'p')).toEqual({ name: 'p', version: 'a', since: t0.toISOString() });
    expect(gate(r, 'p')).toMatchObject({ state: 'Open', message: 'pinned to a (Importing; fleets on the channel wait until it is Ready)' });
    expect(ch(r, 'q')).toBeUndefined();
    expect(gate(r, 'q')).toMatchObject({ state: 'Waiting', message: 'pinned to x, which is not recorded yet' });
    const failed = resolve([{ name: 'p', version: 'a' }], [v('a', 'Failed')]);
    expect(ch(failed, 'p')?.version).toBe('a');
    expect(gate(failed, 'p').message).toBe('pinned to a (Failed; fleets on the channel cannot boot it and report so: pin another version)');
  });

  it('keeps since while the version stays and moves it with the version', () => {
    const previous: RecordedChannel[] = [{ name: 'p', version: 'a', since: '2026-01-01T00:00:00Z' }];
    expect(ch(resolve([{ name: 'p', version: 'a' }], [v('a', 'Ready')], { previous }), 'p')?.since).toBe('2026-01-01T00:00:00Z');
    expect(ch(resolve([{ name: 'p', version: 'b' }], [v('a', 'Ready'), v('b', 'Ready')], { previous }), 'p')?.since).toBe(t0.toISOString());
  });

  it('follows latest, and waits while no version is Ready', () => {
    const r = resolve([{ name: 'l', follows: 'latest' }], [v('a', 'Ready', 2), v('b', 'Ready', 1), v('c', 'Importing')]);
    expect(ch(r, 'l')?.version).toBe('b');
    const none = resolve([{ name: 'l', follows: 'latest' }], [v('c', 'Importing')]);
    expect(none.channels).toEqual([]);
    expect(gate(none, 'l')).toMatchObject({ state: 'Waiting', message: 'no version is Ready yet; points at no version until then' });
  });

  it('takes the followed channel\'s version at once without promotion, in dependency order', () => {
    const specs: ChannelSpec[] = [{ name: 'stable', follows: 'candidate' }, { name: 'candidate', follows: 'latest' }];
    const r = resolve(specs, [v('a', 'Ready')]);
    expect(r.channels.map((c) => `${c.name}=${c.version}`)).toEqual(['stable=a', 'candidate=a']);
    expect(r.gates.map((g) => g.state)).toEqual(['Open', 'Open']);
  });

  it('waits for a followed version that is not Ready, keeping its own', () => {
    const specs: ChannelSpec[] = [{ name: 'c', version: 'b' }, { name: 's', follows: 'c' }];
    const r = resolve(specs, [v('a', 'Ready'), v('b', 'Importing')], { previous: [{ name: 's', version: 'a', since: 'x' }] });
    expect(ch(r, 's')).toEqual({ name: 's', version: 'a', since: 'x' });
    expect(gate(r, 's')).toMatchObject({ state: 'Waiting', message: 'b on channel c is Importing, not Ready; stays at a until then' });
  });

  it('blocks channels that follow each other and keeps their versions', () => {
    const specs: ChannelSpec[] = [{ name: 'a', follows: 'b' }, { name: 'b', follows: 'a' }, { name: 'c', follows: 'a' }];
    const r = resolve(specs, [v('x', 'Ready')], { previous: [{ name: 'a', version: 'x', since: 's' }] });
    expect(gate(r, 'a')).toMatchObject({ state: 'Blocked', message: 'channels a → b → a follow each other; make one follow latest or pin a version (stays at x)' });
    expect(gate(r, 'b').message).toMatch(/^channels b → a → b follow each other/);
    expect(ch(r, 'a')).toEqual({ name: 'a', version: 'x', since: 's' });
    expect(ch(r, 'b')).toBeUndefined();
    expect(ch(r, 'c')?.version).toBe('x');
  });

  it('soaks on the followed channel before promoting', () => {
    const specs: ChannelSpec[] = [{ name: 'c', follows: 'latest' }, { name: 's', follows: 'c', promotion: { soakTime: '24h' } }];
    const previous: RecordedChannel[] = [{ name: 'c', version: 'b', since: at(-10).toISOString() }, { name: 's', version: 'a', since: at(-100).toISOString() }];
    const versions = [v('a', 'Ready', 200), v('b', 'Ready', 20)];
    const soaking = resolve(specs, versions, { previous });
    expect(ch(soaking, 's')?.version).toBe('a');
    expect(gate(soaking, 's')).toEqual({ channel: 's', state: 'Waiting', message: `b is soaking on c until ${at(14).toISOString()}; stays at a until then`, retryAt: at(14) });
    const soaked = resolve(specs, versions, { previous, now: at(14) });
    expect(ch(soaked, 's')).toEqual({ name: 's', version: 'b', since: at(14).toISOString(), previousVersion: 'a' });
  });

  it('promotes only when enough of the VMs running the version are healthy', () => {
    const specs: ChannelSpec[] = [{ name: 'c', version: 'b' }, { name: 's', follows: 'c', promotion: { minHealthyPercent: 90 } }];
    const versions = [v('a', 'Ready', 2), v('b', 'Ready', 1)];
    const previous: RecordedChannel[] = [{ name: 's', version: 'a', since: 'x' }];
    const run = (health?: ResolveChannelsInput['health']) => resolve(specs, versions, { previous, ...(health ? { health } : {}) });
    expect(gate(run(), 's').message).toBe('no health data for b yet (promotion needs 90% of its VMs healthy); stays at a until then');
    expect(gate(run(() => ({ healthy: 0, total: 0 })), 's').message).toBe('no VM runs b yet (promotion needs 90% of its VMs healthy); stays at a until then');
    expect(gate(run(() => ({ healthy: 8, total: 9 })), 's')).toMatchObject({ state: 'Waiting', message: '8/9 VMs on b are healthy, promotion needs 90%; stays at a until then' });
    // A VM still waiting out its fleet's minReadySeconds turns healthy without an event: look again then.
    const soon = new Date('2026-11-01T00:00:05Z');
    expect(gate(run(() => ({ healthy: 8, total: 9, nextHealthyAt: soon })), 's')).toMatchObject({ state: 'Waiting', retryAt: soon });
    const asked: string[] = [];
    const ok = run((version) => (asked.push(version), { healthy: 9, total: 10 }));
    expect([ch(ok, 's')?.version, gate(ok, 's').state, asked]).toEqual(['b', 'Open', ['b']]);
  });

  it('never takes up a rejected version and leaves one it is on', () => {
    const specs: ChannelSpec[] = [{ name: 'c', version: 'b' }, { name: 's', follows: 'c' }, { name: 'l', follows: 'latest' }];
    const r = resolve(specs, [v('a', 'Ready', 2), v('b', 'Ready', 1)], { rejected: new Set(['b']), previous: [{ name: 's', version: 'a', since: 'x' }, { name: 'l', version: 'b', since: 'y' }] });
    expect(gate(r, 's')).toMatchObject({ state: 'Blocked' });
    expect(ch(r, 's')?.version).toBe('a');
    expect(ch(r, 'l')?.version).toBe('a');
  });

  it('leaves a Failed or Deleted version it followed', () => {
    const specs: ChannelSpec[] = [{ name: 'l', follows: 'latest' }];
    const r = resolve(specs, [v('a', 'Deleted', 2), v('b', 'Failed', 1)], { previous: [{ name: 'l', version: 'b', since: 'x' }] });
    expect(r.channels).toEqual([]);
  });

  const phases: VersionPhase[] = ['Discovered', 'Importing', 'Ready', 'Failed', 'Deprecated', 'Obsolete', 'Deleted'];
  const names = ['v0', 'v1', 'v2', 'v3', 'v4'];
  const chans = ['c0', 'c1', 'c2', 'c3'];
  const world = fc.record({
    versions: fc.tuple(...names.map((n) => fc.record({ phase: fc.constantFrom(...phases), hoursAgo: fc.integer({ min: 0, max: 500 }) }).map((x) => v(n, x.phase, x.hoursAgo)))),
    specs: fc.tuple(...chans.map((name) => fc.oneof(
      fc.constantFrom(...names).map((version): ChannelSpec => ({ name, version })),
      fc.record({ follows: fc.constantFrom('latest', ...chans.filter((c) => c !== name)), soak: fc.integer({ min: 0, max: 72 }), health: fc.integer({ min: 0, max: 100 }) })
        .map(({ follows, soak, health }): ChannelSpec => ({ name, follows, promotion: { soakTime: `${soak}h`, minHealthyPercent: health } })),
    ))),
    previous: fc.tuple(...chans.map((name) => fc.record({ version: fc.option(fc.constantFrom(...names), { nil: undefined }), hoursAgo: fc.integer({ min: 0, max: 500 }) })
      .map(({ version, hoursAgo }): RecordedChannel => ({ name, ...(version ? { version, since: at(-hoursAgo).toISOString() } : {}) })))),
    rejected: fc.subarray(names, { maxLength: 2 }),
    healthy: fc.nat({ max: 10 }),
    total: fc.nat({ max: 10 }),
  });

  it('holds its invariants over random channel graphs (property)', () => {
    fc.assert(
      fc.property(world, (w) => {
        const previous = w.previous.filter((c) => c.version !== undefined);
        const rejected = new Set(w.rejected);
        const r = resolveChannels({ spec: { channels: w.specs }, versions: w.versions, previous, now: t0, rejected, health: () => ({ healthy: Math.min(w.healthy, w.total), total: w.total }) });
        const byName = new Map(w.versions.map((x) => [x.name, x]));
        expect(r.gates.map((g) => g.channel)).toEqual(chans);
        for (const spec of w.specs) {
          const got = ch(r, spec.name);
          const old = previous.find((c) => c.name === spec.name);
          // since only changes when the version does
          if (got && old && old.version === got.version) expect(got.since).toBe(old.since);
          if (got && old?.version !== got.version) expect(got.since).toBe(t0.toISOString());
          // pinned always equals the spec (once recorded)
          if (spec.version !== undefined) {
            expect(got?.version).toBe(spec.version);
            continue;
          }
          if (!got) continue;
          const target = byName.get(got.version!)!;
          // a following channel moves only to a Ready, unrejected version and never stays on Failed or Deleted
          expect(isMaterialised(target)).toBe(true);
          expect(rejected.has(target.name)).toBe(false);
          if (got.version !== old?.version) expect(target.phase).toBe('Ready');
          // with soak, never before the followed channel's since + soakTime
          const soak = Number(spec.promotion?.soakTime?.replace('h', '') ?? 0);
          const followed = spec.follows === 'latest' ? undefined : ch(r, spec.follows!);
          if (got.version !== old?.version && followed && soak > 0) {
            expect(followed.version).toBe(got.version);
            expect(Date.parse(followed.since!) + soak * 3_600_000).toBeLessThanOrEqual(t0.getTime());
          }
          if (got.version !== old?.version && (spec.promotion?.minHealthyPercent ?? 0) > 0 && spec.follows !== 'latest') {
            expect(w.total).toBeGreaterThan(0);
            expect(Math.min(w.healthy, w.total) * 100).toBeGreaterThanOrEqual(spec.promotion!.minHealthyPercent! * w.total);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
