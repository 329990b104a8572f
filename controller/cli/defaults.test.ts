import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { V1Node } from '@kubernetes/client-node';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import { DEFAULT_BACKOFF } from '../core/fleet/migration.ts';
import { NO_FLEET_MEMORY, type FleetSnapshot } from '../fleet/decide.ts';
import { withSchemaDefaults } from './defaults.ts';
import { proposedObjects } from './plan.ts';
import { planFleet, simulateFleet, type Estimates } from './preview.ts';

const T0 = Date.parse('2026-11-02T10:00:00Z');
const ESTIMATES: Estimates = { restartSeconds: 40, migrationSeconds: 12, basis: { restart: 'fixed for the test', migration: 'fixed for the test' } };
const exampleFleet = () => parse(readFileSync('examples/vmfleet-web-rollout.yaml', 'utf8')) as VMFleet;

/** The example fleet with every field its schema defaults left out, as a terse manifest would be. */
function terseFleet(): VMFleet {
  const fleet = exampleFleet();
  delete fleet.spec.updateStrategy!.type;
  delete fleet.spec.updateStrategy!.rollingUpdate!.pauseOnFailure;
  delete fleet.spec.updateStrategy!.rollingUpdate!.maxSurge;
  delete (fleet.spec.template.spec as { runStrategy?: string }).runStrategy;
  return fleet;
}

describe('withSchemaDefaults', () => {
  it('fills in what the API server defaults, nested objects included', () => {
    const fleet = withSchemaDefaults(terseFleet());
    expect(fleet.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2, maxSurge: 0, partition: 4, pauseOnFailure: true } });
    expect((fleet.spec.template.spec as { runStrategy?: string }).runStrategy).toBe('Always');
    expect(fleet.spec.remediation?.liveMigration).toMatchObject({ enabled: true, maxConcurrent: 2, fallback: 'None' });
    expect(fleet.spec.paused).toBe(false);
  });

  it('drops a null where the schema is not nullable, then defaults the field', () => {
    const fleet = { ...exampleFleet(), spec: { ...exampleFleet().spec, minReadySeconds: null } } as unknown as VMFleet;
    expect(withSchemaDefaults(fleet).spec.minReadySeconds).toBe(0);
  });

  it('keeps every value the manifest sets, and defaulting twice changes nothing (property)', () => {
    fc.assert(fc.property(
      fc.record({ replicas: fc.integer({ min: 0, max: 50 }), minReadySeconds: fc.integer({ min: 0, max: 600 }), paused: fc.boolean(), partition: fc.integer({ min: 0, max: 50 }) }, { requiredKeys: [] }),
      (set) => {
        const fleet = exampleFleet();
        const { partition, ...top } = set;
        Object.assign(fleet.spec, top);
        fleet.spec.updateStrategy = partition === undefined ? {} : { rollingUpdate: { partition } };
        const once = withSchemaDefaults(fleet);
        expect(once.spec).toMatchObject(top);
        if (partition !== undefined) expect(once.spec.updateStrategy?.rollingUpdate?.partition).toBe(partition);
        expect(withSchemaDefaults(once)).toEqual(once);
      },
    ), { numRuns: 50 });
  });

  it('defaults a GoldenImage too, and leaves other kinds alone', () => {
    const image = parse(readFileSync('examples/goldenimage-fedora.yaml', 'utf8')) as GoldenImage;
    image.spec.storage = {} as never;
    image.spec.channels = [{ name: 'stable', follows: 'candidate', promotion: { soakTime: '1h' } }];
    const defaulted = withSchemaDefaults(image);
    expect(defaulted.spec.storage).toEqual({ type: 'ContainerDisk' });
    expect(defaulted.spec.channels![0]!.promotion).toEqual({ soakTime: '1h', minHealthyPercent: 0 });
    const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } };
    expect(withSchemaDefaults(configMap)).toBe(configMap);
  });
});

describe('plan of a manifest that leaves fields to their defaults', () => {
  const node = (name: string): V1Node => ({ metadata: { name, labels: { 'kubernetes.io/hostname': name } }, status: { conditions: [{ type: 'Ready', status: 'True' }] } } as V1Node);
  const image = (): GoldenImage => {
    const golden = parse(readFileSync('examples/goldenimage-fedora.yaml', 'utf8')) as GoldenImage;
    golden.status = { versions: golden.spec.versions!.map((v, i) => ({ name: v.name, digest: v.digest!, phase: 'Ready', discoveredAt: new Date(T0 - (10 - i) * 86_400_000).toISOString() })) as never, channels: [] };
    return golden;
  };
  /** The fleet as the cluster stores it (defaulted), created and settled. */
  const settled = (): FleetSnapshot => {
    const fleet = { ...withSchemaDefaults(exampleFleet()), metadata: { ...exampleFleet().metadata, uid: 'fleet-uid', generation: 1 } };
    const snapshot: FleetSnapshot = { fleet, vms: [], foreignVMs: [], vmis: [], nodes: [node('node-a'), node('node-b')], goldenImage: image(), migrations: [], budget: { slots: 5, pending: new Map() }, backoff: DEFAULT_BACKOFF, now: T0, memory: NO_FLEET_MEMORY };
    return { ...simulateFleet(snapshot, ESTIMATES, false).world, now: T0 + 3600_000 };
  };
  const planOf = (manifest: VMFleet) => {
    const world = settled();
    const proposed = proposedObjects([{ file: 'fleet.yaml', index: 1, object: manifest as unknown as Record<string, unknown> }], 'default').fleets[0]!;
    return planFleet({ ...world, fleet: { ...world.fleet, spec: proposed.spec } }, ESTIMATES, true);
  };

  it('is the plan of the same manifest with the defaults spelled out: nothing to do', () => {
    const terse = planOf(terseFleet());
    expect(terse).toEqual(planOf(exampleFleet()));
    expect(terse.summary.changed).toBe(0);
  });

  it('is the plan of the full manifest for a real change as well', () => {
    const terse = terseFleet();
    const full = exampleFleet();
    for (const f of [terse, full]) f.spec.image.version = 'f42-20261101';
    const plan = planOf(terse);
    expect(plan).toEqual(planOf(full));
    expect(plan.vms.filter((vm) => vm.action === 'restart').map((vm) => vm.name)).toEqual(['web-4', 'web-5']);
  });
});
