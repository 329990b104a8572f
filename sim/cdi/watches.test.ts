import { describe, expect, it } from '@jest/globals';
import type { DataSource, DataVolume } from '../world.ts';
import { dataSourcesForClaim, dataSourcesPointingAt, dataVolumesForClaim, dataVolumesForDataSource, type CdiReader } from './watches.ts';
import { claim, dataSource, dataVolume, NS } from './test-fixtures.ts';

function reader(dvs: DataVolume[], dss: DataSource[]): CdiReader {
  const store = <T extends { metadata?: { namespace?: string; name?: string } }>(items: T[]) => ({
    list: (ns?: string) => items.filter((i) => ns === undefined || i.metadata?.namespace === ns),
    get: (ns: string | undefined, name: string) => items.find((i) => i.metadata?.namespace === ns && i.metadata?.name === name),
  });
  return { dataVolumes: store(dvs), dataSources: store(dss) };
}

const golden = dataSource('fedora', { pvc: { namespace: NS, name: 'fedora-41' } });
const pointer = dataSource('latest', { dataSource: { namespace: NS, name: 'fedora' } });
const viaRef = dataVolume('vm-a-root', { sourceRef: { kind: 'DataSource', name: 'latest' } });
const direct = dataVolume('vm-b-root', { source: { pvc: { namespace: NS, name: 'fedora-41' } } });
const done = dataVolume('vm-c-root', { source: { pvc: { namespace: NS, name: 'fedora-41' } } }, { status: { phase: 'Succeeded' } });
const other = dataVolume('other', { source: { http: { url: 'u' } } });
const r = reader([viaRef, direct, done, other], [golden, pointer]);

describe('CDI watch mapping', () => {
  it('a claim event concerns its DataVolume and the unfinished clones of it', () => {
    expect(dataVolumesForClaim(r, claim('fedora-41', { owner: 'fedora-41' })).sort()).toEqual([`${NS}/fedora-41`, `${NS}/vm-a-root`, `${NS}/vm-b-root`]);
    expect(dataVolumesForClaim(r, claim('unrelated'))).toEqual([]);
  });

  it('a claim or DataVolume event concerns the DataSources resolving to it', () => {
    expect(dataSourcesForClaim(r, NS, 'fedora-41').sort()).toEqual([`${NS}/fedora`, `${NS}/latest`]);
    expect(dataSourcesForClaim(r, NS, 'other')).toEqual([]);
  });

  it('a DataSource event concerns the DataVolumes referring to it directly or through a pointer', () => {
    expect(dataVolumesForDataSource(r, golden)).toEqual([`${NS}/vm-a-root`]);
    expect(dataSourcesPointingAt(r, golden)).toEqual([`${NS}/latest`]);
  });
});
