import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import {
  DEFAULT_MIGRATION_LIMITS,
  MIGRATION_PHASES,
  admitMigration,
  isFinalMigrationPhase,
  migrationDurationMs,
  migrationsToGarbageCollect,
  migrationsToStart,
  type PendingMigration,
  type RunningMigration,
} from './migrations.ts';

function vmi(phase: string, conditions: { type: string; status: string; reason?: string; message?: string }[] = []): V1VirtualMachineInstance {
  return { metadata: { name: 'vm-1', namespace: 'ns' }, spec: { domain: { devices: {} } }, status: { phase, conditions } };
}

function migration(name: string, vmiName: string, phase: string | undefined, created = '2025-01-01T00:00:00Z', extra: { uid?: string; deleting?: boolean } = {}): V1VirtualMachineInstanceMigration {
  return {
    metadata: { name, namespace: 'ns', uid: extra.uid ?? `uid-${name}`, creationTimestamp: created, deletionTimestamp: extra.deleting ? '2025-01-02T00:00:00Z' : undefined },
    spec: { vmiName },
    status: phase === undefined ? undefined : { phase },
  };
}

describe('phases', () => {
  it('lists KubeVirt migration phases in order', () => {
    expect(MIGRATION_PHASES).toEqual(['Pending', 'Scheduling', 'Scheduled', 'PreparingTarget', 'TargetReady', 'Running', 'Succeeded', 'Failed']);
  });
  it('knows the final phases', () => {
    expect(MIGRATION_PHASES.filter(isFinalMigrationPhase)).toEqual(['Succeeded', 'Failed']);
    expect(isFinalMigrationPhase(undefined)).toBe(false);
    expect(isFinalMigrationPhase('')).toBe(false);
  });
});

describe('admitMigration', () => {
  it('admits a running, migratable VMI without other migrations', () => {
    expect(admitMigration(vmi('Running', [{ type: 'LiveMigratable', status: 'True' }]), [])).toEqual({ allowed: true });
  });
  it('refuses a missing VMI', () => {
    expect(admitMigration(undefined, [], { namespace: 'ns', vmiName: 'gone' })).toEqual({ allowed: false, message: 'the VMI "ns/gone" does not exist' });
  });
  it.each(['Succeeded', 'Failed'])('refuses a %s VMI', (phase) => {
    expect(admitMigration(vmi(phase), [])).toEqual({ allowed: false, message: 'Cannot migrate VMI in finalized state.' });
  });
  it('does not refuse a VMI that is not running yet, as KubeVirt does not', () => {
    expect(admitMigration(vmi('Scheduling'), [])).toEqual({ allowed: true });
  });
  it('refuses a non-migratable VMI with its reason', () => {
    const r = admitMigration(vmi('Running', [{ type: 'LiveMigratable', status: 'False', reason: 'DisksNotLiveMigratable', message: 'PVC rwo is not shared' }]), []);
    expect(r).toEqual({ allowed: false, message: 'Cannot migrate VMI, Reason: DisksNotLiveMigratable, Message: PVC rwo is not shared' });
  });
  it('refuses while another migration of the VMI is in flight', () => {
    const existing = [migration('old', 'vm-1', 'Succeeded'), migration('other-vm', 'vm-2', 'Running'), migration('live', 'vm-1', 'Scheduling', undefined, { uid: 'abc-123' })];
    expect(admitMigration(vmi('Running'), existing)).toEqual({
      allowed: false,
      message: 'in-flight migration detected. Active migration job (abc-123) is currently already in progress for VMI vm-1.',
    });
  });
  it('counts a migration without a phase yet as in flight', () => {
    expect(admitMigration(vmi('Running'), [migration('new', 'vm-1', undefined)]).allowed).toBe(false);
  });
  it('admits when all earlier migrations of the VMI are final', () => {
    expect(admitMigration(vmi('Running'), [migration('a', 'vm-1', 'Failed'), migration('b', 'vm-1', 'Succeeded')])).toEqual({ allowed: true });
  });
});

describe('migrationsToStart', () => {
  const p = (name: string, sourceNode: string, createdAt: string | number): PendingMigration => ({ name, sourceNode, createdAt });
  it('starts the oldest first within the limits', () => {
    const pending = [p('c', 'n1', 3), p('a', 'n1', 1), p('b', 'n1', 2), p('d', 'n2', 4)];
    expect(migrationsToStart(pending, [])).toEqual(['a', 'b', 'd']);
  });
  it('respects the cluster limit, counting running migrations', () => {
    const running: RunningMigration[] = [
      { name: 'r1', sourceNode: 'x' },
      { name: 'r2', sourceNode: 'y' },
      { name: 'r3', sourceNode: 'z' },
    ];
    expect(migrationsToStart([p('a', 'n1', 1), p('b', 'n2', 2), p('c', 'n3', 3)], running)).toEqual(['a', 'b']);
    expect(migrationsToStart([p('a', 'n1', 1)], running, { parallelMigrationsPerCluster: 3 })).toEqual([]);
  });
  it('lets a younger migration from another node start when a node is full', () => {
    expect(migrationsToStart([p('a', 'n1', 1), p('b', 'n2', 2)], [{ name: 'r', sourceNode: 'n1' }], { parallelOutboundMigrationsPerNode: 1 })).toEqual(['b']);
  });
  it('orders RFC 3339 timestamps and breaks ties by name', () => {
    expect(migrationsToStart([p('z', 'n1', '2025-01-01T00:00:02Z'), p('y', 'n2', '2025-01-01T00:00:01Z'), p('x', 'n3', '2025-01-01T00:00:01Z')], [])).toEqual(['x', 'y', 'z']);
  });
  it('defaults to KubeVirt limits 5 per cluster and 2 outbound per node', () => {
    expect(DEFAULT_MIGRATION_LIMITS).toEqual({ parallelMigrationsPerCluster: 5, parallelOutboundMigrationsPerNode: 2 });
    const pending = Array.from({ length: 10 }, (_, i) => p(`m${i}`, `n${i % 3}`, i));
    const started = migrationsToStart(pending, []);
    expect(started).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });
  it('never exceeds either limit and starts as many as it can (property)', () => {
    const nodes = fc.constantFrom('n1', 'n2', 'n3', 'n4');
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ name: fc.string({ minLength: 1, maxLength: 4 }), sourceNode: nodes, createdAt: fc.integer({ min: 0, max: 100 }) }), { selector: (m) => m.name, maxLength: 20 }),
        fc.array(fc.record({ name: fc.constant('running'), sourceNode: nodes }), { maxLength: 8 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 4 }),
        (pending, running, perCluster, perNode) => {
          const limits = { parallelMigrationsPerCluster: perCluster, parallelOutboundMigrationsPerNode: perNode };
          const started = migrationsToStart(pending, running, limits);
          const startedSet = new Set(started);
          expect(startedSet.size).toBe(started.length);
          const all = [...running, ...pending.filter((m) => startedSet.has(m.name))];
          if (started.length > 0) expect(all.length).toBeLessThanOrEqual(perCluster);
          const perSource = new Map<string, number>();
          for (const m of pending.filter((x) => startedSet.has(x.name))) perSource.set(m.sourceNode, (perSource.get(m.sourceNode) ?? 0) + 1);
          for (const [node, count] of perSource) {
            expect(count + running.filter((r) => r.sourceNode === node).length).toBeLessThanOrEqual(perNode);
          }
          // maximal: every pending migration left out is blocked by a limit
          for (const m of pending.filter((x) => !startedSet.has(x.name))) {
            const fromNode = all.filter((x) => x.sourceNode === m.sourceNode).length;
            expect(all.length >= perCluster || fromNode >= perNode).toBe(true);
          }
        },
      ),
    );
  });
});

describe('migrationsToGarbageCollect', () => {
  const at = (i: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString();
  it('keeps the 5 newest finished migrations', () => {
    const ms = Array.from({ length: 8 }, (_, i) => migration(`m${i}`, 'vm-1', i % 2 ? 'Succeeded' : 'Failed', at(i)));
    expect(migrationsToGarbageCollect(ms)).toEqual(['m0', 'm1', 'm2']);
  });
  it('never collects unfinished or already-deleting migrations', () => {
    const ms = [
      ...Array.from({ length: 6 }, (_, i) => migration(`f${i}`, 'vm-1', 'Succeeded', at(i + 10))),
      migration('running', 'vm-1', 'Running', at(0)),
      migration('deleting', 'vm-1', 'Failed', at(1), { deleting: true }),
    ];
    expect(migrationsToGarbageCollect(ms)).toEqual(['f0']);
  });
  it('collects nothing with 5 or fewer finished', () => {
    expect(migrationsToGarbageCollect(Array.from({ length: 5 }, (_, i) => migration(`m${i}`, 'vm-1', 'Succeeded', at(i))))).toEqual([]);
  });
  it('leaves exactly min(5, finished) finished migrations (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...MIGRATION_PHASES, undefined), fc.integer({ min: 0, max: 50 })), { maxLength: 15 }), (specs) => {
        const ms = specs.map(([phase, t], i) => migration(`m${i}`, 'vm-1', phase, at(t)));
        const gc = new Set(migrationsToGarbageCollect(ms));
        const finished = ms.filter((m) => isFinalMigrationPhase(m.status?.phase));
        expect(finished.filter((m) => !gc.has(m.metadata!.name!)).length).toBe(Math.min(5, finished.length));
        for (const m of ms) if (gc.has(m.metadata!.name!)) expect(isFinalMigrationPhase(m.status?.phase)).toBe(true);
        const keptOldest = Math.min(...finished.filter((m) => !gc.has(m.metadata!.name!)).map((m) => Date.parse(m.metadata!.creationTimestamp!)));
        for (const m of finished.filter((x) => gc.has(x.metadata!.name!))) expect(Date.parse(m.metadata!.creationTimestamp!)).toBeLessThanOrEqual(keptOldest);
      }),
    );
  });
});

describe('migrationDurationMs', () => {
  it('scales with memory', () => {
    expect(migrationDurationMs(4 * 1024 ** 3, 1000)).toBe(4000);
    expect(migrationDurationMs(512 * 1024 ** 2, 1000)).toBe(500);
    expect(migrationDurationMs(0, 1000)).toBe(0);
  });
});
