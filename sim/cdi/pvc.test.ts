import { describe, expect, it } from '@jest/globals';
import { provisionedStatus } from './pvc.ts';
import { claim } from './test-fixtures.ts';

describe('provisionedStatus (immediate-binding simulated storage)', () => {
  it('binds a Pending claim at once with its request as capacity', () => {
    expect(provisionedStatus(claim('data', { phase: 'Pending', storage: '5Gi', accessModes: ['ReadWriteMany'] }))).toEqual({
      phase: 'Bound', capacity: { storage: '5Gi' }, accessModes: ['ReadWriteMany'],
    });
    expect(provisionedStatus(claim('fresh'))).toMatchObject({ phase: 'Bound' });
  });

  it('leaves bound, deleting and DataVolume-owned claims alone', () => {
    expect(provisionedStatus(claim('data', { phase: 'Bound' }))).toBeUndefined();
    const deleting = claim('data', { phase: 'Pending' });
    deleting.metadata!.deletionTimestamp = new Date();
    expect(provisionedStatus(deleting)).toBeUndefined();
    expect(provisionedStatus(claim('root', { phase: 'Pending', owner: 'root' }))).toBeUndefined();
  });
});
