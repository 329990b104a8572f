import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { V1Node } from '@kubernetes/client-node';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import { DEFAULT_BACKOFF } from '../core/fleet/migration.ts';
import { NO_FLEET_MEMORY, type FleetSnapshot } from '../fleet/decide.ts';
import { planFleet, proposedImage, simulateFleet, type Estimates } from './preview.ts';

const T0 = Date.parse('2026-11-02T10:00:00Z');
const ESTIMATES: Estimates = { restartSeconds: 40, migrationSeconds: 12, basis: { restart: 'fixed for the test', migration: 'fixed for the test' } };

function example(): { fleet: VMFleet; image: GoldenImage } {
  const fleet = parse(readFileSync('examples/vmfleet-web-rollout.yaml', 'utf8')) as VMFleet;
  fleet.metadata = { ...fleet.metadata, uid: 'fleet-uid', generation: 1 };
  const image = parse(readFileSync('examples/goldenimage-fedora.yaml', 'utf8')) as GoldenImage;
  image.status = {
    versions: image.spec.versions!.map((v, i) => ({ name: v.name, digest: v.digest!, phase: 'Ready', discoveredAt: new Date(T0 - (10 - i) * 86_400_000).toISOString() })) as never,
    channels: [],
  };
  return { fleet, image };
}

const node = (name: string, labels: Record<string, string> = {}): V1Node => ({ metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } }, status: { conditions: [{ type: 'Ready', status: 'True' }] } } as V1Node);

function snapshot(fleet: VMFleet, image: GoldenImage, nodes: V1Node[]): FleetSnapshot {
  return { fleet, vms: [], foreignVMs: [], vmis: [], nodes, goldenImage: image, migrations: [], budget: { slots: 5, pending: new Map() }, backoff: DEFAULT_BACKOFF, now: T0, memory: NO_FLEET_MEMORY };
}

/** The example fleet as the cluster would hold it once created and settled. */
function settled(edit: (fleet: VMFleet) => void = () => {}) {
  const { fleet, image } = example();
  edit(fleet);
  const nodes = [node('node-a', { zone: 'a' }), node('node-b', { zone: 'b' })];
  return { ...simulateFleet(snapshot(fleet, image, nodes), ESTIMATES, false).world, now: T0 + 3600_000 };
}

describe('planFleet', () => {
  it('plans a fleet that does not exist yet as its creation, in one wave', () => {
    const { fleet, image } = example();
    const plan = planFleet(snapshot(fleet, image, [node('node-a')]), ESTIMATES, false);
    expect(plan.state).toBe('Planned');
    expect(plan.vms.map((vm) => [vm.name, vm.action])).toEqual([0, 1, 2, 3, 4, 5].map((i) => [`web-${i}`, 'create']));
    expect(plan.waves).toHaveLength(1);
    expect(plan.summary).toMatchObject({ changed: 6, waves: 1, makespanSeconds: 40 });
  });

  it('plans nothing for the fleet as it runs', () => {
    const world = settled();
    const plan = planFleet(world, ESTIMATES, true);
    expect(plan.summary.changed).toBe(0);
    expect(plan.waves).toEqual([]);
    expect(plan.vms.every((vm) => vm.action === 'none')).toBe(true);
  });

  it('restarts the canaries above the partition onto a new image version and says which VMs wait', () => {
    const world = settled();
    world.fleet.spec.image.version = 'f42-20261101';
    const plan = planFleet(world, ESTIMATES, true);
    expect(plan.vms.filter((vm) => vm.action === 'restart').map((vm) => vm.name)).toEqual(['web-4', 'web-5']);
    expect(plan.held.map((h) => h.vm)).toEqual(['web-0', 'web-1', 'web-2', 'web-3']);
    expect(plan.held[0]!.why).toContain('partition 4');
    expect(plan.vms.find((vm) => vm.name === 'web-4')!.reason).toContain('image f42-20261001 → f42-20261101');
  });

  it('moves VMs by live migration when only their placement changes', () => {
    const world = settled();
    (world.fleet.spec.template.spec as { template: { spec: { nodeSelector?: Record<string, string> } } }).template.spec.nodeSelector = { zone: 'b' };
    world.fleet.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2, partition: 0 } };
    const plan = planFleet(world, ESTIMATES, true);
    const onA = world.vmis.filter((vmi) => vmi.status?.nodeName === 'node-a').map((vmi) => vmi.metadata!.name!).sort();
    expect(onA.length).toBeGreaterThan(0);
    for (const vm of plan.vms) {
      expect(vm.steps.map((s) => s.action)).toEqual(onA.includes(vm.name) ? ['liveUpdate', 'liveMigration'] : ['liveUpdate']);
    }
  });

  it('recreates the VMs whose dataVolumeTemplates change', () => {
    const world = settled();
    const vmSpec = world.fleet.spec.template.spec as { dataVolumeTemplates?: unknown[] };
    vmSpec.dataVolumeTemplates = [{ metadata: { name: 'scratch' }, spec: { source: { blank: {} }, storage: { resources: { requests: { storage: '1Gi' } } } } }];
    world.fleet.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 3, partition: 0 } };
    const plan = planFleet(world, ESTIMATES, true);
    expect(plan.vms.every((vm) => vm.action === 'diskRecreate' && vm.steps.at(-1)!.action === 'create')).toBe(true);
  });

  it('rolls out in waves of at most maxUnavailable above the partition, the rest held (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 3 }), (partition, maxUnavailable) => {
      const world = settled();
      world.fleet.spec.image.version = 'f42-20261101';
      world.fleet.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable, maxSurge: 0, partition } };
      const plan = planFleet(world, ESTIMATES, true);
      const moved = plan.vms.filter((vm) => vm.action === 'restart').map((vm) => Number(vm.name.split('-')[1]));
      expect(moved).toEqual([0, 1, 2, 3, 4, 5].filter((i) => i >= partition));
      expect(plan.held).toHaveLength(partition);
      for (const wave of plan.waves) expect(wave.actions.filter((a) => a.action === 'restart').length).toBeLessThanOrEqual(maxUnavailable);
      expect(plan.summary.waves).toBe(Math.ceil((6 - partition) / maxUnavailable));
      // Each wave waits out the restart, then minReadySeconds before the next one starts.
      if (plan.waves.length > 0) expect(plan.summary.makespanSeconds).toBe(plan.waves.length * 40 + (plan.waves.length - 1) * 10);
    }), { numRuns: 25 });
  });
});

describe('proposedImage', () => {
  it('points a pinned channel where the proposed spec pins it, with the image core', () => {
    const { image } = example();
    const moved = proposedImage(image, { ...image.spec, channels: [{ name: 'stable', version: 'f42-20261001' }] }, T0);
    expect(moved.status!.channels!.find((c) => c.name === 'stable')!.version).toBe('f42-20261001');
  });

  it('shows a version made Obsolete in its phase', () => {
    const { image } = example();
    const obsolete = proposedImage(image, { ...image.spec, deprecations: [{ version: 'f42-20261001', state: 'Obsolete' }] }, T0);
    expect(obsolete.status!.versions!.find((v) => v.name === 'f42-20261001')!.phase).toBe('Obsolete');
  });

  it('moves a channel gated on health at once when the VMs on the followed version are healthy now, and says so while they are not', () => {
    const { image } = example();
    const spec = { ...image.spec, channels: [{ name: 'candidate', version: 'f42-20261101' }, { name: 'stable', follows: 'candidate', promotion: { minHealthyPercent: 50 } }] };
    const gate = (healthy: number) => proposedImage(image, spec, T0, () => ({ healthy, total: 4 })).status!.channels!.find((c) => c.name === 'stable')!;
    expect(gate(2)).toMatchObject({ version: 'f42-20261101', gate: { state: 'Open' } });
    expect(gate(1).version).toBeUndefined();
    expect(gate(1).gate).toEqual({ state: 'Waiting', message: '1/4 VMs on f42-20261101 are healthy, promotion needs 50%; points at no version until then' });
  });
});
