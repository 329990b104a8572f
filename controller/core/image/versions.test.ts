import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { FoundVersion, PinnedVersion, RecordedVersion } from './types.ts';
import { MAX_RECORDED_VERSIONS, byDiscovery, foundIdentity, recordVersions, recordedIdentity, versionName } from './versions.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const hex64 = (c: string): string => c.repeat(64).slice(0, 64);
const digest = (c: string): string => `sha256:${hex64(c)}`;
const reg = (c: string): FoundVersion => ({ kind: 'registry', digest: digest(c) });
const t0 = new Date('2026-11-01T04:30:00.250Z');
const later = (s: number): Date => new Date(t0.getTime() + s * 1000);

describe('versionName', () => {
  it('is <YYYYMMDD>-<HHMMSS>-<10 hex> in UTC', () => {
    expect(versionName(t0, { kind: 'registry', digest: 'sha256:3f9a0c1b2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8' })).toBe('20261101-043000-3f9a0c1b2d');
    expect(versionName(new Date('2026-01-02T23:04:05+02:00'), { kind: 'http', checksum: `sha512:${'ab'.repeat(64)}`, url: 'https://x/y' })).toBe('20260102-210405-ababababab');
  });
  it('uses a PVC uid without dashes', () => {
    expect(versionName(t0, { kind: 'pvc', uid: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', namespace: 'ns', name: 'disk' })).toBe('20261101-043000-0f1e2d3c4b');
  });
  it('is a DNS label and sorts by discovery time (property)', () => {
    const when = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2999-12-31T23:59:59Z'), noInvalidDate: true });
    const found = fc.oneof(
      fc.stringMatching(/^[a-f0-9]{64}$/).map((h): FoundVersion => ({ kind: 'registry', digest: `sha256:${h}` })),
      fc.uuid().map((u): FoundVersion => ({ kind: 'pvc', uid: u, namespace: 'ns', name: 'p' })),
    );
    fc.assert(
      fc.property(when, when, found, found, (a, b, fa, fb) => {
        const na = versionName(a, fa);
        const nb = versionName(b, fb);
        expect(na).toMatch(DNS_LABEL);
        expect(na.length).toBeLessThanOrEqual(26);
        if (Math.floor(a.getTime() / 1000) < Math.floor(b.getTime() / 1000)) expect(na < nb).toBe(true);
        expect(versionName(a, fa)).toBe(na);
      }),
    );
  });
});

describe('identities', () => {
  it('matches recorded and found versions by digest, checksum and url, or uid', () => {
    expect(recordedIdentity({ digest: digest('a') })).toBe(foundIdentity(reg('a')));
    expect(recordedIdentity({ checksum: digest('b'), url: 'https://h/i' })).toBe(foundIdentity({ kind: 'http', checksum: digest('b'), url: 'https://h/i' }));
    expect(recordedIdentity({ checksum: digest('b') }, 'https://h/i')).toBe(foundIdentity({ kind: 'http', checksum: digest('b'), url: 'https://h/i' }));
    expect(recordedIdentity({ checksum: digest('b'), url: 'https://h/other' })).not.toBe(foundIdentity({ kind: 'http', checksum: digest('b'), url: 'https://h/i' }));
    expect(recordedIdentity({ sourceUID: 'u-1' })).toBe(foundIdentity({ kind: 'pvc', uid: 'u-1', namespace: 'n', name: 'p' }));
    expect(recordedIdentity({})).toBeUndefined();
  });
});

describe('recordVersions', () => {
  const base = { recorded: [] as RecordedVersion[], found: [] as FoundVersion[], pinned: [] as PinnedVersion[], source: 'registry' as const, now: t0 };

  it('records a new found version as Discovered under the scheme name', () => {
    const r = recordVersions({ ...base, found: [reg('a')] });
    expect(r.versions).toEqual([{ name: '20261101-043000-aaaaaaaaaa', digest: digest('a'), phase: 'Discovered', discoveredAt: t0.toISOString() }]);
    expect(r.added).toEqual(['20261101-043000-aaaaaaaaaa']);
    expect([r.dropped, r.deferred]).toEqual([0, 0]);
  });

  it('adds nothing for an identity already recorded, under any name and in any phase', () => {
    const recorded: RecordedVersion[] = [
      { name: 'f42', digest: digest('a'), phase: 'Ready', discoveredAt: '2026-01-01T00:00:00Z' },
      { name: 'old', digest: digest('b'), phase: 'Deleted', discoveredAt: '2026-01-02T00:00:00Z', deletedAt: '2026-02-01T00:00:00Z' },
    ];
    const r = recordVersions({ ...base, recorded, found: [reg('a'), reg('b'), reg('a')], now: later(60) });
    expect(r.versions).toEqual(recorded);
    expect(r.added).toEqual([]);
  });

  it('records a tag moving back to an old digest once only', () => {
    let recorded: RecordedVersion[] = [];
    for (const [i, c] of ['a', 'b', 'a', 'b', 'c'].entries()) recorded = recordVersions({ ...base, recorded, found: [reg(c)], now: later(i * 3600) }).versions;
    expect(recorded.map((v) => v.digest)).toEqual([digest('a'), digest('b'), digest('c')]);
  });

  it('never changes a recorded entry', () => {
    const recorded: RecordedVersion[] = [{ name: 'x', digest: digest('a'), phase: 'Importing', discoveredAt: '2026-01-01T00:00:00Z', progress: '10%', usedBy: 2 }];
    const r = recordVersions({ ...base, recorded, pinned: [{ name: 'x', digest: digest('f') }] });
    expect(r.versions).toEqual(recorded);
  });

  it('records pinned versions by name with their digest, checksum and url', () => {
    const r = recordVersions({ ...base, pinned: [{ name: 'f42', digest: digest('a') }], found: [reg('a')] });
    expect(r.versions).toEqual([{ name: 'f42', digest: digest('a'), phase: 'Discovered', discoveredAt: t0.toISOString() }]);
    const http = recordVersions({
      ...base,
      source: 'http',
      sourceURL: 'https://img/disk.qcow2',
      pinned: [{ name: 'a', checksum: digest('1') }, { name: 'b', checksum: digest('2'), url: 'https://img/b.qcow2' }],
      found: [{ kind: 'http', checksum: digest('1'), url: 'https://img/disk.qcow2' }],
    });
    expect(http.versions.map((v) => [v.name, v.checksum, v.url])).toEqual([['a', digest('1'), 'https://img/disk.qcow2'], ['b', digest('2'), 'https://img/b.qcow2']]);
  });

  it('records a pinned version even when a discovered one has its digest', () => {
    const discovered = recordVersions({ ...base, found: [reg('a')] }).versions;
    const r = recordVersions({ ...base, recorded: discovered, pinned: [{ name: 'f42', digest: digest('a') }], now: later(5) });
    expect(r.versions.map((v) => v.name)).toEqual(['20261101-043000-aaaaaaaaaa', 'f42']);
  });

  it('suffixes a name that is taken', () => {
    const a1 = `sha256:${'1'.repeat(10)}${'a'.repeat(54)}`;
    const a2 = `sha256:${'1'.repeat(10)}${'b'.repeat(54)}`;
    const a3 = `sha256:${'1'.repeat(10)}${'c'.repeat(54)}`;
    const r = recordVersions({ ...base, pinned: [{ name: '20261101-043000-1111111111', digest: a3 }], found: [{ kind: 'registry', digest: a1 }, { kind: 'registry', digest: a2 }] });
    expect(r.versions.map((v) => v.name).sort()).toEqual(['20261101-043000-1111111111', '20261101-043000-1111111111-2', '20261101-043000-1111111111-3']);
  });

  it('records PVCs by uid and ignores found versions of another kind', () => {
    const r = recordVersions({ ...base, source: 'pvc', found: [{ kind: 'pvc', uid: 'abcdef01-2345-6789-abcd-ef0123456789', namespace: 'ns', name: 'disk' }, reg('a')] });
    expect(r.versions).toEqual([{ name: '20261101-043000-abcdef0123', sourceUID: 'abcdef01-2345-6789-abcd-ef0123456789', phase: 'Discovered', discoveredAt: t0.toISOString() }]);
  });

  it('orders by discoveredAt, then name, reading times rather than strings', () => {
    const recorded: RecordedVersion[] = [
      { name: 'b', phase: 'Ready', discoveredAt: '2026-01-01T00:00:00Z' },
      { name: 'a', phase: 'Ready', discoveredAt: '2026-01-01T00:00:00.000Z' },
      { name: 'c', phase: 'Ready', discoveredAt: '2025-12-31T23:00:00-02:00' },
    ];
    expect(recordVersions({ ...base, recorded }).versions.map((v) => v.name)).toEqual(['a', 'b', 'c']);
  });

  const many = (n: number, phase: RecordedVersion['phase'], from = 0): RecordedVersion[] =>
    Array.from({ length: n }, (_, i) => ({ name: `v${from + i}`, digest: `sha256:${(from + i).toString(16).padStart(64, '0')}`, phase, discoveredAt: new Date(Date.UTC(2025, 0, 1, 0, 0, from + i)).toISOString(), ...(phase === 'Deleted' ? { deletedAt: new Date(Date.UTC(2025, 6, 1, 0, 0, 1000 - i)).toISOString() } : {}) }));

  it('drops the oldest Deleted entries first when over the limit', () => {
    const recorded = [...many(10, 'Deleted'), ...many(MAX_RECORDED_VERSIONS - 10, 'Ready', 10)];
    const r = recordVersions({ ...base, recorded, found: [reg('a'), reg('b')] });
    expect(r.versions).toHaveLength(MAX_RECORDED_VERSIONS);
    expect(r.dropped).toBe(2);
    // deletedAt runs backwards in `many`: v9 and v8 were deleted first.
    expect(r.versions.some((v) => v.name === 'v9' || v.name === 'v8')).toBe(false);
    expect(r.added).toHaveLength(2);
  });

  it('never drops a live entry: found versions wait when nothing Deleted is left', () => {
    const recorded = many(MAX_RECORDED_VERSIONS, 'Ready');
    const r = recordVersions({ ...base, recorded, found: [reg('a'), reg('b'), reg('a')] });
    expect(r.versions).toEqual(recorded);
    expect([r.added, r.dropped, r.deferred]).toEqual([[], 0, 2]);
  });

  it('keeps every history consistent (property)', () => {
    const ids = fc.constantFrom('a', 'b', 'c', 'd', 'e');
    const step = fc.record({
      found: fc.array(ids, { maxLength: 3 }),
      pin: fc.option(fc.record({ name: fc.constantFrom('f41', 'f42', 'f43'), id: ids }), { nil: undefined }),
      deleteOne: fc.boolean(),
      seconds: fc.integer({ min: 0, max: 3 * 86_400 }),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 25 }), (steps) => {
        let recorded: RecordedVersion[] = [];
        const pinned: PinnedVersion[] = [];
        let now = t0;
        for (const s of steps) {
          now = new Date(now.getTime() + s.seconds * 1000);
          if (s.pin && !pinned.some((p) => p.name === s.pin!.name)) pinned.push({ name: s.pin.name, digest: digest(s.pin.id) });
          if (s.deleteOne && recorded.length > 0) recorded = recorded.map((v, i) => (i === 0 ? { ...v, phase: 'Deleted' as const } : v));
          const before = recorded;
          const r = recordVersions({ recorded, found: s.found.map(reg), pinned, source: 'registry', now });
          recorded = r.versions;
          // recorded entries never change and never go
          for (const v of before) expect(recorded).toContainEqual(v);
          expect(recorded).toHaveLength(before.length + r.added.length);
          // names unique and DNS labels
          expect(new Set(recorded.map((v) => v.name)).size).toBe(recorded.length);
          for (const v of recorded) expect(v.name).toMatch(DNS_LABEL);
          // no identity twice among discovered names (pinned entries are recorded once each, by name)
          const pinnedNames = new Set(pinned.map((p) => p.name));
          const discovered = recorded.filter((v) => !pinnedNames.has(v.name)).map((v) => v.digest);
          expect(new Set(discovered).size).toBe(discovered.length);
          // every pinned version and every found identity is recorded
          for (const p of pinned) expect(recorded.some((v) => v.name === p.name)).toBe(true);
          for (const f of s.found) expect(recorded.some((v) => v.digest === digest(f))).toBe(true);
          // sorted
          expect([...recorded].sort(byDiscovery)).toEqual(recorded);
        }
      }),
    );
  });
});

describe('recordVersions: pinning what was discovered', () => {
  it('a pin of an already discovered digest keeps its discovery time, so latest does not move to it', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const newer = `sha256:${'b'.repeat(64)}`;
    const first = recordVersions({ recorded: [], found: [{ kind: 'registry', digest }], pinned: [], source: 'registry', now: new Date('2026-11-01T00:00:00Z') });
    const second = recordVersions({ recorded: first.versions, found: [{ kind: 'registry', digest: newer }], pinned: [], source: 'registry', now: new Date('2026-11-02T00:00:00Z') });
    const pinned = recordVersions({ recorded: second.versions, found: [], pinned: [{ name: 'gold', digest }], source: 'registry', now: new Date('2026-11-03T00:00:00Z') });
    expect(pinned.versions.find((v) => v.name === 'gold')?.discoveredAt).toBe('2026-11-01T00:00:00.000Z');
    expect(pinned.versions.at(-1)?.digest).toBe(newer);
  });
});
