import { describe, expect, it } from '@jest/globals';
import { withTransitionTimes } from '../conditions.ts';
import type { ChannelGate } from './channels.ts';
import { imageConditions, type ImageConditionsInput } from './summary.ts';
import type { RecordedVersion, VersionPhase } from './types.ts';

const v = (name: string, phase: VersionPhase, discoveredAt: string, extra: Partial<RecordedVersion> = {}): RecordedVersion => ({ name, phase, discoveredAt, ...extra });
const open = (channel: string): ChannelGate => ({ channel, state: 'Open', message: 'ok' });
const base: ImageConditionsInput = {
  generation: 3,
  versions: [v('a', 'Ready', '2026-01-01T00:00:00Z'), v('b', 'Ready', '2026-02-01T00:00:00Z'), v('c', 'Deprecated', '2025-12-01T00:00:00Z')],
  channels: [{ name: 'stable', version: 'a', since: 's' }, { name: 'candidate', version: 'b', since: 's' }],
  gates: [open('stable'), open('candidate')],
  importing: [],
  failed: [],
};
const summary = (over: Partial<ImageConditionsInput> = {}) => imageConditions({ ...base, ...over });
const cond = (s: ReturnType<typeof imageConditions>, type: string) => s.conditions.find((c) => c.type === type)!;
const brief = (s: ReturnType<typeof imageConditions>) => s.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);

describe('imageConditions', () => {
  it('is Ready when every channel points at an available version, naming the latest', () => {
    const s = summary();
    expect(brief(s)).toEqual(['Ready=True/VersionsAvailable', 'Reconciling=False/Reconciled', 'Stalled=False/AsExpected']);
    expect(cond(s, 'Ready').message).toBe('latest version b; 3 available; every channel points at an available version');
    expect([s.availableVersions, s.latestVersion]).toEqual([3, 'b']);
    expect(s.conditions.every((c) => c.observedGeneration === 3)).toBe(true);
  });

  it('counts Deprecated and Obsolete versions as available but not as latest', () => {
    const s = summary({ versions: [v('a', 'Deprecated', '2026-01-01T00:00:00Z'), v('b', 'Obsolete', '2026-02-01T00:00:00Z')], channels: [], gates: [] });
    expect([s.availableVersions, s.latestVersion]).toEqual([2, undefined]);
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', message: 'no version is current (every available one is deprecated); 2 available' });
  });

  it('skips rejected versions for latestVersion', () => {
    expect(summary({ rejected: new Set(['b']) }).latestVersion).toBe('a');
  });

  it('is not Ready while a channel points at no version or at one VMs cannot boot', () => {
    const s = summary({
      versions: [...base.versions, v('d', 'Importing', '2026-03-01T00:00:00Z')],
      channels: [{ name: 'stable', version: 'd', since: 's' }],
      gates: [open('stable'), { channel: 'candidate', state: 'Waiting', message: 'no version is Ready yet; points at no version until then' }],
      importing: ['d'],
    });
    expect(cond(s, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'ChannelsNotReady',
      message: 'channel stable points at d, which is Importing; channel candidate points at no version (no version is Ready yet; points at no version until then); fleets on these channels wait',
    });
  });

  it('is not Ready and Reconciling while an import is under way', () => {
    const s = summary({ versions: [...base.versions, v('d', 'Importing', '2026-03-01T00:00:00Z', { progress: '45.20%' }), v('e', 'Importing', '2026-03-02T00:00:00Z')], importing: ['d', 'e'] });
    expect(brief(s)).toEqual(['Ready=False/Importing', 'Reconciling=True/Importing', 'Stalled=False/AsExpected']);
    expect(cond(s, 'Ready').message).toBe('importing d (45.20%), e; Ready when the imports finish');
    expect(cond(s, 'Reconciling').message).toBe('importing d (45.20%), e');
  });

  it('is not Ready with no version at all', () => {
    const s = summary({ versions: [v('a', 'Discovered', '2026-01-01T00:00:00Z')], channels: [], gates: [] });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'NoVersionAvailable' });
    expect(s.latestVersion).toBeUndefined();
  });

  it('is Reconciling while a gate waits, with the gate\'s words', () => {
    const s = summary({ gates: [open('candidate'), { channel: 'stable', state: 'Waiting', message: 'b is soaking on candidate until 2026-02-02T00:00:00.000Z; stays at a until then', retryAt: new Date('2026-02-02T00:00:00Z') }] });
    expect(brief(s)).toEqual(['Ready=True/VersionsAvailable', 'Reconciling=True/ChannelsWaiting', 'Stalled=False/AsExpected']);
    expect(cond(s, 'Reconciling').message).toBe('channel stable: b is soaking on candidate until 2026-02-02T00:00:00.000Z; stays at a until then');
  });

  it('is Stalled with the source problem\'s reason and words', () => {
    const s = summary({ sourceProblem: { reason: 'Unauthorized', message: 'registry.example/fedora: 401 UNAUTHORIZED: authentication required; check spec.source.registry.pullSecretRef' } });
    expect(brief(s)).toEqual(['Ready=True/VersionsAvailable', 'Reconciling=False/Unauthorized', 'Stalled=True/Unauthorized']);
    expect(cond(s, 'Stalled').message).toBe('registry.example/fedora: 401 UNAUTHORIZED: authentication required; check spec.source.registry.pullSecretRef');
    expect(cond(s, 'Reconciling').message).toBe('stalled: see the Stalled condition');
  });

  it('is Stalled when an import failed permanently, the source problem first', () => {
    const failed = [{ version: 'd', reason: 'ChecksumMismatch', message: 'expected sha256:aa, got sha256:bb' }, { version: 'e', reason: 'ImportFailed', message: 'x' }];
    const s = summary({ failed });
    expect(cond(s, 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'ChecksumMismatch',
      message: 'the import of d failed: expected sha256:aa, got sha256:bb (and e failed too); it stays Failed and no following channel takes it up: fix the source and publish a new version',
    });
    expect(cond(summary({ failed, sourceProblem: { reason: 'SourceUnreachable', message: 'dial tcp: connection refused' } }), 'Stalled').reason).toBe('SourceUnreachable');
  });

  it('is Stalled by a Blocked channel, and Reconciling as well while it imports', () => {
    const gates: ChannelGate[] = [{ channel: 'stable', state: 'Blocked', message: 'channels stable → candidate → stable follow each other' }, open('candidate')];
    const s = summary({ gates, importing: ['b'] });
    expect(brief(s)).toEqual(['Ready=False/Importing', 'Reconciling=True/Importing', 'Stalled=True/ChannelsBlocked']);
    expect(cond(s, 'Stalled').message).toBe('channel stable: channels stable → candidate → stable follow each other');
  });

  it('keeps long messages within the schema and transition times with withTransitionTimes', () => {
    const s = summary({ sourceProblem: { reason: 'TagNotFound', message: 'x'.repeat(5000) } });
    expect(cond(s, 'Stalled').message.length).toBeLessThanOrEqual(1024);
    const first = withTransitionTimes(undefined, s.conditions, '2026-01-01T00:00:00Z');
    const again = withTransitionTimes(first, summary().conditions, '2026-01-02T00:00:00Z');
    expect(again.map((c) => [c.type, c.lastTransitionTime])).toEqual([['Ready', '2026-01-01T00:00:00Z'], ['Reconciling', '2026-01-01T00:00:00Z'], ['Stalled', '2026-01-02T00:00:00Z']]);
  });
});
