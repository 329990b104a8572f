import { describe, expect, it } from '@jest/globals';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { DataSource, DataVolume } from '../world.ts';
import { findCondition, type CdiCondition } from './conditions.ts';
import { dataSourceStatus, type CdiLookup } from './datasource.ts';
import { mergePatchFor } from '../merge-patch.ts';
import { claim, dataSource, dataVolume, NS } from './test-fixtures.ts';

function lookup(objs: { ds?: DataSource[]; dvs?: DataVolume[]; pvcs?: V1PersistentVolumeClaim[] }): CdiLookup {
  const find = <T extends { metadata?: { namespace?: string; name?: string } }>(list: T[] | undefined) => (ns: string, name: string) =>
    list?.find((o) => o.metadata?.namespace === ns && o.metadata?.name === name);
  return { dataSource: find(objs.ds), dataVolume: find(objs.dvs), pvc: find(objs.pvcs) };
}

const readyOf = (s: { conditions?: CdiCondition[] }) => findCondition(s.conditions, 'Ready');
const T1 = '2025-01-01T00:00:00Z';
const T2 = '2025-01-01T00:05:00Z';
const golden = dataSource('fedora', { pvc: { namespace: NS, name: 'fedora-41' } });

describe('dataSourceStatus (CDI DataSource controller)', () => {
  it('is ready when the source claim’s DataVolume has Succeeded, and says the phase otherwise', () => {
    const importing = dataVolume('fedora-41', {}, { status: { phase: 'ImportInProgress' } });
    expect(readyOf(dataSourceStatus(golden, lookup({ dvs: [importing] }), T1))).toMatchObject({
      status: 'False', reason: 'ImportInProgress', message: 'Import DataVolume phase ImportInProgress',
    });
    const done = dataVolume('fedora-41', {}, { status: { phase: 'Succeeded' } });
    expect(readyOf(dataSourceStatus(golden, lookup({ dvs: [done] }), T1))).toEqual({
      type: 'Ready', status: 'True', reason: 'Ready', message: 'DataSource is ready to be consumed', lastTransitionTime: T1, lastHeartbeatTime: T1,
    });
  });

  it('without a DataVolume, is ready once the claim is Bound', () => {
    expect(readyOf(dataSourceStatus(golden, lookup({ pvcs: [claim('fedora-41', { phase: 'Pending' })] }), T1))).toMatchObject({ status: 'False', reason: 'Pending', message: 'PVC fedora-41 Pending' });
    expect(readyOf(dataSourceStatus(golden, lookup({ pvcs: [claim('fedora-41', { phase: 'Bound' })] }), T1))).toMatchObject({ status: 'True', reason: 'Ready' });
  });

  it('is NotFound without claim or DataVolume, and NoSource without a source', () => {
    expect(readyOf(dataSourceStatus(golden, lookup({}), T1))).toMatchObject({ status: 'False', reason: 'NotFound', message: 'PVC not found' });
    expect(readyOf(dataSourceStatus(dataSource('empty', {}), lookup({}), T1))).toMatchObject({ status: 'False', reason: 'NoSource', message: 'No source PVC set' });
  });

  it('resolves a pointer one level and records the resolved source', () => {
    const pointer = dataSource('latest', { dataSource: { namespace: NS, name: 'fedora' } });
    const s = dataSourceStatus(pointer, lookup({ ds: [golden, pointer], pvcs: [claim('fedora-41', { phase: 'Bound' })] }), T1);
    expect(readyOf(s)).toMatchObject({ status: 'True', reason: 'Ready' });
    expect(s.source).toEqual({ pvc: { namespace: NS, name: 'fedora-41' } });

    const dangling = dataSource('dangling', { dataSource: { namespace: NS, name: 'nope' } });
    const d = dataSourceStatus(dangling, lookup({ ds: [dangling] }), T1);
    expect(readyOf(d)).toMatchObject({ status: 'False', reason: 'NotFound' });
    expect(d.source).toEqual({});
  });

  it('writes nothing while nothing changes, and restarts the condition when the source changes', () => {
    const look = lookup({ pvcs: [claim('fedora-41', { phase: 'Bound' }), claim('fedora-42', { phase: 'Bound' })] });
    const first = dataSourceStatus(golden, look, T1);
    const stored: DataSource = { ...golden, status: first as DataSource['status'] };
    expect(mergePatchFor(stored.status, dataSourceStatus(stored, look, T2))).toBeUndefined();

    const moved: DataSource = { ...stored, spec: { source: { pvc: { namespace: NS, name: 'fedora-42' } } } };
    const next = dataSourceStatus(moved, look, T2);
    expect(readyOf(next)).toMatchObject({ status: 'True', lastTransitionTime: T2 });
    expect(mergePatchFor(stored.status, next)).toEqual({ source: { pvc: { name: 'fedora-42' } }, conditions: next.conditions });
  });
});
