import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { updateConditions, type DesiredCondition } from './conditions.ts';

const T1 = '2025-01-01T00:00:00Z';
const T2 = '2025-01-01T00:01:00Z';
const T3 = '2025-01-01T00:02:00Z';

describe('updateConditions (CDI updateCondition)', () => {
  it('stamps a new condition with both times and leaves empty reason and message out', () => {
    expect(updateConditions(undefined, [{ type: 'Ready', status: 'False' }], T1)).toEqual([
      { type: 'Ready', status: 'False', lastTransitionTime: T1, lastHeartbeatTime: T1 },
    ]);
  });

  it('moves only the heartbeat when the reason or message changes', () => {
    const first = updateConditions(undefined, [{ type: 'Bound', status: 'False', reason: 'Pending', message: 'PVC a Pending' }], T1);
    const second = updateConditions(first, [{ type: 'Bound', status: 'False', reason: 'Other', message: 'x' }], T2);
    expect(second).toEqual([{ type: 'Bound', status: 'False', reason: 'Other', message: 'x', lastTransitionTime: T1, lastHeartbeatTime: T2 }]);
  });

  it('moves both times when the status changes', () => {
    const first = updateConditions(undefined, [{ type: 'Ready', status: 'False', reason: 'TransferRunning' }], T1);
    expect(updateConditions(first, [{ type: 'Ready', status: 'True' }], T2)).toEqual([{ type: 'Ready', status: 'True', lastTransitionTime: T2, lastHeartbeatTime: T2 }]);
  });

  it('keeps the order of existing conditions and appends new ones', () => {
    const first = updateConditions(undefined, [{ type: 'Bound', status: 'False' }, { type: 'Ready', status: 'False' }], T1);
    expect(updateConditions(first, [{ type: 'Running', status: 'False' }, { type: 'Bound', status: 'True' }], T2).map((c) => c.type)).toEqual(['Bound', 'Ready', 'Running']);
  });

  it('changes nothing when the same state is applied again later', () => {
    const desired = fc.record({
      type: fc.constantFrom('Bound', 'Ready', 'Running'),
      status: fc.constantFrom('True' as const, 'False' as const, 'Unknown' as const),
      reason: fc.option(fc.string(), { nil: undefined }),
      message: fc.option(fc.string(), { nil: undefined }),
    });
    fc.assert(fc.property(fc.uniqueArray(desired, { selector: (d) => d.type }), fc.uniqueArray(desired, { selector: (d) => d.type }), (before, now) => {
      const previous = updateConditions(undefined, before as DesiredCondition[], T1);
      const once = updateConditions(previous, now as DesiredCondition[], T2);
      expect(updateConditions(once, now as DesiredCondition[], T3)).toEqual(once);
    }));
  });

  it('does not modify the previous conditions', () => {
    const first = updateConditions(undefined, [{ type: 'Ready', status: 'False' }], T1);
    const copy = structuredClone(first);
    updateConditions(first, [{ type: 'Ready', status: 'True', reason: 'x' }], T2);
    expect(first).toEqual(copy);
  });
});
