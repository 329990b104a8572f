import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { V1Node } from '@kubernetes/client-node';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import { parseDuration } from '../core/duration.ts';
import { DEFAULT_BACKOFF } from '../core/fleet/migration.ts';
import { NO_FLEET_MEMORY, type FleetSnapshot } from '../fleet/decide.ts';
import { withSchemaDefaults } from './defaults.ts';
import { planReport, renderPlan } from './plan-output.ts';
import { proposedImage, simulateFleet, type Estimates } from './preview.ts';
import { forecastImage, onWaitingChannel, promotionHealth, withInstances, type Promotion } from './promotion.ts';

const T0 = Date.parse('2026-11-02T10:00:00Z');
const ESTIMATES: Estimates = { restartSeconds: 40, migrationSeconds: 12, basis: { restart: 'fixed for the test', migration: 'fixed for the test' } };
const OLD = 'f42-20261001';
const NEW = 'f42-20261101';
const node = (name: string): V1Node => ({ metadata: { name, labels: { 'kubernetes.io/hostname': name } }, status: { conditions: [{ type: 'Ready', status: 'True' }] } } as V1Node);

/** The example image with `candidate` pinned and `stable` following it with `promotion`; both recorded at the old version. */
function image(promotion: { soakTime?: string; minHealthyPercent?: number }, rejectedNew = false): GoldenImage {
  const golden = parse(readFileSync('examples/goldenimage-fedora.yaml', 'utf8')) as GoldenImage;
  golden.metadata = { ...golden.metadata, uid: 'image-uid' };
  golden.spec.deprecations = [];
  golden.spec.channels = [{ name: 'candidate', version: OLD }, { name: 'stable', follows: 'candidate', promotion }];
  const since = new Date(T0 - 86_400_000).toISOString();
  golden.status = {
    versions: golden.spec.versions!.map((v, i) => ({
      name: v.name, digest: v.digest!, phase: 'Ready', discoveredAt: new Date(T0 - (10 - i) * 86_400_000).toISOString(),
      ...(rejectedNew && v.name === NEW ? { rejected: { at: since, channel: 'stable', reason: 'Unhealthy' } } : {}),
    })) as never,
    channels: [{ name: 'candidate', version: OLD, since }, { name: 'stable', version: OLD, since }],
  };
  return withSchemaDefaults(golden);
}

/** The example fleet on `channel`, as the cluster runs it on `live`. */
function settledFleet(name: string, channel: string, live: GoldenImage): FleetSnapshot {
  const fleet = withSchemaDefaults(parse(readFileSync('examples/vmfleet-web-rollout.yaml', 'utf8')) as VMFleet);
  fleet.metadata = { ...fleet.metadata, name, uid: `${name}-uid`, generation: 1 };
  fleet.spec.replicas = 2;
  fleet.spec.image = { name: 'fedora', channel, volume: 'rootdisk' };
  fleet.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0, partition: 0, pauseOnFailure: true } };
  const snapshot: FleetSnapshot = { fleet, vms: [], foreignVMs: [], vmis: [], nodes: [node('node-a')], goldenImage: live, migrations: [], budget: { slots: 5, pending: new Map() }, backoff: DEFAULT_BACKOFF, now: T0 - 3600_000, memory: NO_FLEET_MEMORY };
  return { ...simulateFleet(snapshot, ESTIMATES, false).world, now: T0 };
}

/** Moves candidate to the new version and plans it: the pure part of `plan` for a GoldenImage change. */
function planMove(live: GoldenImage, fleetChannels: string[]) {
  const worlds = fleetChannels.map((channel, i) => settledFleet(`fleet-${i}`, channel, live));
  const running = worlds.map((w) => ({ vms: withInstances(w.vms, w.vmis), minReadySeconds: w.fleet.spec.minReadySeconds ?? 0 }));
  const spec = { ...live.spec, channels: [{ name: 'candidate', version: NEW }, live.spec.channels![1]!] };
  const proposed = proposedImage(live, spec, T0, promotionHealth(live, live.status!.versions!, running, T0));
  const planned = worlds.map((w) => simulateFleet({ ...w, goldenImage: proposed }, ESTIMATES, true));
  const after = planned.map((p) => ({ vms: withInstances(p.world.vms, p.world.vmis), minReadySeconds: p.world.fleet.spec.minReadySeconds ?? 0, until: p.world.now }));
  const promotions = forecastImage(proposed, running, after, T0);
  return { proposed, planned, promotions, plannedUntil: Math.max(...after.map((a) => a.until)) };
}

const stable = (promotions: Promotion[]) => promotions.find((p) => p.channel === 'stable')!;

describe('forecastImage', () => {
  it('says a channel waits out its soak time and then takes the version up, the candidate fleets being healthy by then', () => {
    const { proposed, planned, promotions } = planMove(image({ soakTime: '1h', minHealthyPercent: 100 }), ['candidate', 'stable']);
    expect(proposed.status!.channels!.map((c) => [c.name, c.version])).toEqual([['candidate', NEW], ['stable', OLD]]);
    expect(planned[0]!.plan.vms.map((vm) => vm.action)).toEqual(['restart', 'restart']);
    expect(planned[1]!.plan.summary.changed).toBe(0);
    const p = stable(promotions);
    expect(p).toMatchObject({ follows: 'candidate', version: NEW, stays: OLD, gate: { state: 'Waiting' }, takesUpAt: new Date(T0 + 3600_000).toISOString() });
    expect(p.gate.message).toContain(`soaking on candidate until ${new Date(T0 + 3600_000).toISOString()}`);
    expect(p.forecast).toMatch(/^takes up f42-20261101 at 2026-11-02T11:00:00.000Z/);
  });

  it('takes the version up once the planned candidate VMs are healthy for minReadySeconds, when there is no soak time', () => {
    const { promotions, plannedUntil } = planMove(image({ minHealthyPercent: 100 }), ['candidate']);
    const at = Date.parse(stable(promotions).takesUpAt!);
    expect(at).toBeGreaterThan(T0);
    expect(at).toBeGreaterThanOrEqual(plannedUntil);
    expect(at).toBeLessThanOrEqual(plannedUntil + 10_000);
    expect(stable(promotions).gate.message).toContain(`no VM runs ${NEW} yet`);
  });

  it('says the channel does not move by itself when no fleet would run the version for the health gate', () => {
    const p = stable(planMove(image({ minHealthyPercent: 50 }), ['stable']).promotions);
    expect(p.takesUpAt).toBeUndefined();
    expect(p.forecast).toBe(`does not take up ${NEW} by itself: no VM runs ${NEW} yet (promotion needs 50% of its VMs healthy); stays at ${OLD} until then`);
  });

  it('says a rejected version is blocked, and why', () => {
    const p = stable(planMove(image({ soakTime: '1h' }, true), ['candidate']).promotions);
    expect(p.gate.state).toBe('Blocked');
    expect(p.takesUpAt).toBeUndefined();
    expect(p.forecast).toContain('was rejected and is not taken up until a person clears it');
  });

  it('never takes a version up before the soak ends, nor before a health gate can count the planned VMs (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 100 }), (hours, minHealthyPercent) => {
      const soakTime = hours > 0 ? `${hours}h` : undefined;
      const { promotions, plannedUntil } = planMove(image({ ...(soakTime ? { soakTime } : {}), minHealthyPercent }), ['candidate', 'stable']);
      if (!soakTime && minHealthyPercent === 0) return expect(promotions).toEqual([]);
      const p = stable(promotions);
      expect(p.takesUpAt).toBeDefined();
      const at = Date.parse(p.takesUpAt!);
      expect(at).toBeGreaterThanOrEqual(T0 + (soakTime ? parseDuration(soakTime) : 0));
      if (minHealthyPercent > 0) expect(at).toBeGreaterThanOrEqual(plannedUntil);
    }), { numRuns: 20, examples: [[0, 0], [0, 100], [5, 0]] });
  });

  it('reports no promotion when the following channel moves at once', () => {
    const { proposed, promotions } = planMove(image({}), ['candidate']);
    expect(proposed.status!.channels!.find((c) => c.name === 'stable')!.version).toBe(NEW);
    expect(promotions).toEqual([]);
  });
});

describe('promotionHealth', () => {
  it('counts a VM on the version only once its running instance boots it too, healthy after minReadySeconds', () => {
    const live = image({ minHealthyPercent: 100 });
    const before = settledFleet('fleet-0', 'candidate', live);
    const { planned } = planMove(live, ['candidate']);
    const after = planned[0]!.world;
    const minReadySeconds = after.fleet.spec.minReadySeconds ?? 0;
    expect(minReadySeconds).toBeGreaterThan(0);
    const count = (vmis: typeof after.vmis, at: number) => promotionHealth(live, live.status!.versions!, [{ vms: withInstances(after.vms, vmis), minReadySeconds }], at)(NEW);
    // Specs updated, the old instances still running: nothing runs the new version yet.
    expect(count(before.vmis, after.now)).toEqual({ healthy: 0, total: 0 });
    const lastBoot = Math.max(...after.vmis.map((vmi) => Date.parse(String(vmi.metadata!.creationTimestamp))));
    expect(count(after.vmis, lastBoot)).toEqual({ healthy: 1, total: 2, nextHealthyAt: new Date(lastBoot + minReadySeconds * 1000) });
    expect(count(after.vmis, lastBoot + minReadySeconds * 1000)).toEqual({ healthy: 2, total: 2 });
  });
});

describe('onWaitingChannel', () => {
  it('plans the fleets on the waiting channel as not changing, each VM saying why', () => {
    const { planned, promotions } = planMove(image({ soakTime: '1h' }), ['stable']);
    const plan = onWaitingChannel(planned[0]!.plan, stable(promotions));
    expect(plan.summary.changed).toBe(0);
    expect(plan.channelWaits?.channel).toBe('stable');
    for (const vm of plan.vms) expect(vm.reason).toBe(`channel stable stays at ${OLD}: takes up ${NEW} at 2026-11-02T11:00:00.000Z (${stable(promotions).gate.message})`);
    const table = renderPlan(planReport([plan], [{ namespace: 'ci', name: 'fedora', exists: true, channels: [], versions: [], promotions, fleets: ['ci/fleet-0'] }], ESTIMATES), 'table');
    expect(table).toContain(`  channel stable (follows candidate) stays at ${OLD}: takes up ${NEW} at 2026-11-02T11:00:00.000Z`);
    expect(table).toContain(`  channel stable stays at ${OLD}: takes up ${NEW}`);
  });
});
