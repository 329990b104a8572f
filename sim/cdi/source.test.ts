import { describe, expect, it } from '@jest/globals';
import { resolveDataSource, transferSource } from './source.ts';
import { dataSource, dataVolume, getter, NS } from './test-fixtures.ts';

describe('transferSource (CDI getDataVolumeOp)', () => {
  const none = getter();

  it('reads import sources with their URL', () => {
    expect(transferSource(dataVolume('a', { source: { http: { url: 'https://x/disk.img' } } }), none)).toEqual({ kind: 'import', type: 'http', url: 'https://x/disk.img' });
    expect(transferSource(dataVolume('a', { source: { registry: { url: 'docker://quay.io/f:41' } } }), none)).toEqual({ kind: 'import', type: 'registry', url: 'docker://quay.io/f:41' });
    expect(transferSource(dataVolume('a', { source: { blank: {} } }), none)).toEqual({ kind: 'import', type: 'blank' });
  });

  it('reads a pvc source as a clone, defaulting the namespace to the DataVolume’s', () => {
    expect(transferSource(dataVolume('a', { source: { pvc: { name: 'golden' } } }), none)).toEqual({ kind: 'clone', namespace: NS, name: 'golden' });
    expect(transferSource(dataVolume('a', { source: { pvc: { namespace: 'images', name: 'golden' } } }), none)).toEqual({ kind: 'clone', namespace: 'images', name: 'golden' });
  });

  it('resolves sourceRef through the DataSource, and a pointer one level further', () => {
    const golden = dataSource('fedora', { pvc: { namespace: 'images', name: 'fedora-41' } }, 'images');
    const latest = dataSource('latest', { dataSource: { namespace: 'images', name: 'fedora' } }, 'images');
    const get = getter(golden, latest);
    expect(transferSource(dataVolume('a', { sourceRef: { kind: 'DataSource', namespace: 'images', name: 'fedora' } }), get)).toEqual({ kind: 'clone', namespace: 'images', name: 'fedora-41' });
    expect(transferSource(dataVolume('a', { sourceRef: { kind: 'DataSource', namespace: 'images', name: 'latest' } }), get)).toEqual({ kind: 'clone', namespace: 'images', name: 'fedora-41' });
  });

  it('blocks on a missing or unresolvable DataSource', () => {
    expect(transferSource(dataVolume('a', { sourceRef: { kind: 'DataSource', name: 'gone' } }), none)).toEqual({ kind: 'blocked', phase: 'Pending', reason: 'NotFound', message: `DataSource ${NS}/gone not found` });
    const empty = dataSource('empty', {});
    expect(transferSource(dataVolume('a', { sourceRef: { kind: 'DataSource', name: 'empty' } }), getter(empty))).toMatchObject({ kind: 'blocked', reason: 'NoSource' });
    const snap = dataSource('snap', { snapshot: { namespace: NS, name: 's1' } } as never);
    expect(transferSource(dataVolume('a', { sourceRef: { kind: 'DataSource', name: 'snap' } }), getter(snap))).toEqual({
      kind: 'blocked', phase: 'CloneScheduled', reason: 'CloneWithoutSource', message: "The source snapshot s1 doesn't exist",
    });
  });

  it('leaves upload and source-less DataVolumes alone', () => {
    expect(transferSource(dataVolume('a', { source: { upload: {} } }), none)).toEqual({ kind: 'none' });
    expect(transferSource(dataVolume('a', {}), none)).toEqual({ kind: 'none' });
  });
});

describe('resolveDataSource', () => {
  const target = dataSource('t', { pvc: { namespace: NS, name: 'p' } });

  it('resolves a plain source to itself and a pointer to its target', () => {
    expect(resolveDataSource(target, getter(target))).toEqual({ ok: true, source: { pvc: { namespace: NS, name: 'p' } }, namespace: NS, name: 't' });
    const pointer = dataSource('ptr', { dataSource: { namespace: NS, name: 't' } });
    expect(resolveDataSource(pointer, getter(target, pointer))).toEqual({ ok: true, source: { pvc: { namespace: NS, name: 'p' } }, namespace: NS, name: 't' });
  });

  it.each([
    ['a missing target', dataSource('ptr', { dataSource: { namespace: NS, name: 'nope' } }), 'NotFound'],
    ['itself', dataSource('ptr', { dataSource: { namespace: NS, name: 'ptr' } }), 'SelfReference'],
    ['another namespace', dataSource('ptr', { dataSource: { namespace: 'other', name: 't' } }), 'CrossNamespaceReference'],
    ['a pointer', dataSource('ptr2', { dataSource: { namespace: NS, name: 'ptr1' } }), 'MaxReferenceDepthReached'],
  ])('does not resolve a pointer to %s', (_what, ds, reason) => {
    const ptr1 = dataSource('ptr1', { dataSource: { namespace: NS, name: 't' } });
    const r = resolveDataSource(ds, getter(target, ptr1, ds));
    expect(r).toMatchObject({ ok: false, reason });
  });
});
