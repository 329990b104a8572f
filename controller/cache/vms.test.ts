import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseVmIndex, vmName } from '../core/fleet/names.ts';
import { fleetOfVMName } from './vms.ts';

describe('fleetOfVMName', () => {
  const fleet = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
  const index = fc.nat({ max: 10_000 });
  /** Names near the fleet's own: its VMs', those of a fleet named after one of its VMs, leading zeros, others. */
  const nameNear = (f: string) => fc.oneof(
    index.map((i) => vmName(f, i)),
    fc.tuple(index, index).map(([i, j]) => vmName(vmName(f, i), j)),
    index.map((i) => `${f}-0${i}`),
    fc.stringMatching(/^[a-z0-9-]{1,24}$/),
  );

  it('names the one fleet whose VM name it is, as parseVmIndex reads names (property)', () => {
    fc.assert(fc.property(fleet.chain((f) => fc.tuple(fc.constant(f), nameNear(f))), ([f, n]) => {
      expect(fleetOfVMName(n) === f).toBe(parseVmIndex(f, n) !== undefined);
    }), { numRuns: 200 });
  });

  it('reads the fleet of names whose fleet ends in a number, and refuses leading zeros', () => {
    expect(fleetOfVMName('web-1-0')).toBe('web-1');
    expect(fleetOfVMName('web-12')).toBe('web');
    expect(fleetOfVMName('web-012')).toBeUndefined();
    expect(fleetOfVMName('web')).toBeUndefined();
  });
});
