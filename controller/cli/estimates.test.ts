import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { DEFAULT_MIGRATION_SECONDS, DEFAULT_RESTART_SECONDS, estimateTimes } from './estimates.ts';

const T = Date.parse('2026-11-01T00:00:00Z');
const iso = (offsetS: number) => new Date(T + offsetS * 1000).toISOString();
const vmi = (bootS: number, phase = 'Running'): V1VirtualMachineInstance => ({
  metadata: { name: 'v', creationTimestamp: iso(0) }, spec: { domain: { devices: {} } },
  status: { phase, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: iso(bootS) }] },
} as unknown as V1VirtualMachineInstance);
const migration = (tookS: number, phase = 'Succeeded'): V1VirtualMachineInstanceMigration => ({
  metadata: { name: 'm', creationTimestamp: iso(0) }, spec: { vmiName: 'v' },
  status: { phase, phaseTransitionTimestamps: [{ phase, phaseTransitionTimestamp: iso(tookS) }] },
} as unknown as V1VirtualMachineInstanceMigration);

describe('estimateTimes', () => {
  it('takes the median boot and migration times and says so', () => {
    const e = estimateTimes([vmi(20), vmi(30), vmi(400)], [migration(8), migration(12)]);
    expect(e).toMatchObject({ restartSeconds: 30, migrationSeconds: 10 });
    expect(e.basis.restart).toContain('3 running VMI');
    expect(e.basis.migration).toContain('2 finished migration');
  });

  it('falls back to stated defaults when nothing was observed, ignoring VMIs not running and failed migrations', () => {
    const e = estimateTimes([vmi(20, 'Scheduling')], [migration(5, 'Failed')]);
    expect(e).toMatchObject({ restartSeconds: DEFAULT_RESTART_SECONDS, migrationSeconds: DEFAULT_MIGRATION_SECONDS });
    expect(e.basis.restart).toContain('default');
  });

  it('lies between the fastest and the slowest observed (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 3600 }), { minLength: 1, maxLength: 20 }), (boots) => {
      const { restartSeconds } = estimateTimes(boots.map((b) => vmi(b)), []);
      expect(restartSeconds).toBeGreaterThanOrEqual(Math.min(...boots));
      expect(restartSeconds).toBeLessThanOrEqual(Math.max(...boots));
    }));
  });
});
