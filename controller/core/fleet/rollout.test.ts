import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { ChangeKind } from './classify.ts';
import { SCALE_DOWN_PRIORITIES } from '../../api/schema/vmfleet.ts';
import { MAX_CREATES_PER_PLAN, planRollout, resolveIntOrPercent, rolloutLimits, rolloutSpecOf, type ObservedVM, type Plan, type RolloutSpec } from './rollout.ts';

const NEW = 'new';
const OLD = 'old';
const NOW = 1_000_000;

function spec(over: Partial<RolloutSpec> = {}): RolloutSpec {
  return { replicas: 3, strategy: 'RollingUpdate', maxUnavailable: 1, maxSurge: 0, partition: 0, pauseOnFailure: true, paused: false, minReadySeconds: 0, scaleDownPriorities: ['NotReady', 'OutdatedRevision', 'HighestIndex'], ...over };
}
function vm(index: number, over: Partial<ObservedVM> = {}): ObservedVM {
  const revision = over.revision === undefined && 'revision' in over ? undefined : (over.revision ?? NEW);
  return {
    name: `web-${index}`, index, createdAt: index * 1000, ready: true, readySince: 0, deleting: false, restarting: false, restartPending: false,
    startFailureCount: 0, failed: false, drifted: false, change: revision === NEW ? 'none' : 'restartRequired', ...over, revision,
  };
}
const plan = (s: RolloutSpec, vms: ObservedVM[], now = NOW): Plan => planRollout({ fleet: 'web', spec: s, updateRevision: NEW, now, vms });
const summary = (p: Plan) => p.actions.map((a) => `${a.type} ${'name' in a ? a.name : ''}${a.type === 'Create' || a.type === 'Delete' ? ` ${a.reason}` : ''}`.trim());

describe('limits', () => {
  it('resolves ints and percentages like Deployments', () => {
    expect(resolveIntOrPercent(2, 10, false)).toBe(2);
    expect(resolveIntOrPercent('25%', 10, false)).toBe(2);
    expect(resolveIntOrPercent('25%', 10, true)).toBe(3);
    expect(resolveIntOrPercent('3', 10, true)).toBe(3);
    expect(rolloutLimits({ replicas: 3, maxUnavailable: '10%', maxSurge: 0 })).toEqual({ maxUnavailable: 1, maxSurge: 0 });
    expect(rolloutLimits({ replicas: 3, maxUnavailable: 0, maxSurge: '10%' })).toEqual({ maxUnavailable: 0, maxSurge: 1 });
  });
  it('applies the schema defaults', () => {
    expect(rolloutSpecOf({ selector: { matchLabels: {} }, image: { name: 'i', volume: 'v', version: 'x' }, template: { spec: { template: {} } } })).toEqual(spec({ replicas: 1 }));
  });
});

describe('planRollout: scaling', () => {
  it('scales 0 → 3 at the lowest free indexes', () => {
    expect(summary(plan(spec(), []))).toEqual(['Create web-0 ScaleUp', 'Create web-1 ScaleUp', 'Create web-2 ScaleUp']);
    expect(summary(plan(spec(), [vm(1)]))).toEqual(['Create web-0 ScaleUp', 'Create web-2 ScaleUp']);
  });
  it('creates at most MAX_CREATES_PER_PLAN in one plan, the lowest indexes first, and the rest in the plans after', () => {
    const s = spec({ replicas: 1200 });
    const first = plan(s, []);
    expect(first.actions.map((a) => a.index)).toEqual(Array.from({ length: MAX_CREATES_PER_PLAN }, (_, i) => i));
    expect(first.complete).toBe(false);
    const made = (n: number) => Array.from({ length: n }, (_, i) => vm(i));
    expect(plan(s, made(500)).actions.map((a) => a.index)).toEqual(Array.from({ length: 500 }, (_, i) => 500 + i));
    expect(summary(plan(s, made(1000)))).toHaveLength(200);
    expect(plan(s, made(1200)).complete).toBe(true);
  });
  it('does not reuse the name of a VM being deleted, and counts it', () => {
    expect(summary(plan(spec(), [vm(0), vm(1, { deleting: true })]))).toEqual(['Create web-2 ScaleUp']);
    expect(summary(plan(spec({ replicas: 2 }), [vm(0), vm(1, { deleting: true })]))).toEqual([]);
  });
  it('scales down by priority: not ready, outdated, then highest index', () => {
    const vms = [vm(0), vm(1, { revision: OLD }), vm(2), vm(3, { ready: false }), vm(4)];
    expect(summary(plan(spec({ replicas: 2, maxUnavailable: 5 }), vms))).toContain('Delete web-3 ScaleDown');
    expect(summary(plan(spec({ replicas: 2, maxUnavailable: 5, strategy: 'OnDelete' }), vms))).toEqual(['Delete web-3 ScaleDown', 'Delete web-1 ScaleDown', 'Delete web-4 ScaleDown']);
    expect(summary(plan(spec({ replicas: 3, scaleDownPriorities: ['Oldest'] }), [vm(0), vm(1), vm(2), vm(3)]))).toEqual(['Delete web-0 ScaleDown']);
    expect(summary(plan(spec({ replicas: 3, scaleDownPriorities: ['Newest'] }), [vm(0), vm(1), vm(2), vm(3)]))).toEqual(['Delete web-3 ScaleDown']);
    expect(summary(plan(spec({ replicas: 3, scaleDownPriorities: ['Drifted'] }), [vm(0, { drifted: true }), vm(1), vm(2), vm(3)]))).toEqual(['Delete web-0 ScaleDown']);
  });
  it('scale down respects maxUnavailable for available VMs, deleting unavailable ones freely', () => {
    const vms = [vm(0, { ready: false }), vm(1, { ready: false }), vm(2), vm(3)];
    const p = plan(spec({ replicas: 2, maxUnavailable: 0, maxSurge: 1, scaleDownPriorities: ['HighestIndex'] }), vms);
    expect(summary(p)).toEqual(['Delete web-1 ScaleDown', 'Delete web-0 ScaleDown']);
    expect(p.blocked).toHaveLength(2);
  });
});

describe('planRollout: rolling update', () => {
  it('restarts at most maxUnavailable, highest index first, and updates in place at once', () => {
    const vms = [vm(0, { revision: OLD }), vm(1, { revision: OLD }), vm(2, { revision: OLD }), vm(3, { revision: OLD, change: 'liveUpdatable' })];
    const p = plan(spec({ replicas: 4 }), vms);
    expect(summary(p)).toEqual(['UpdateInPlace web-3', 'Restart web-2']);
    expect(p.status).toMatchObject({ updatedReplicas: 0, availableReplicas: 4, currentRevision: OLD, updateRevision: NEW });
    expect(p.complete).toBe(false);
  });
  it('waits while the budget is used by an unavailable VM; restarts unavailable outdated VMs for free', () => {
    expect(summary(plan(spec(), [vm(0, { revision: OLD }), vm(1, { revision: OLD }), vm(2, { restarting: true, ready: false })]))).toEqual([]);
    expect(summary(plan(spec(), [vm(0, { revision: OLD, ready: false }), vm(1, { revision: OLD }), vm(2)]))).toEqual(['Restart web-0']);
  });
  it('recreates when dataVolumeTemplates changed, and restarts a VM left with RestartRequired', () => {
    expect(summary(plan(spec({ maxUnavailable: 2 }), [vm(0, { revision: OLD, change: 'recreate' }), vm(1, { restartPending: true }), vm(2)]))).toEqual(['Restart web-1', 'Recreate web-0']);
  });
  it('minReadySeconds: a recently Ready VM is not available yet; re-plan when it is', () => {
    const p = plan(spec({ minReadySeconds: 10 }), [vm(0, { revision: OLD }), vm(1, { revision: OLD }), vm(2, { readySince: NOW - 4000 })]);
    expect(summary(p)).toEqual([]);
    expect(p.nextCheckAt).toBe(NOW + 6000);
    expect(summary(plan(spec({ minReadySeconds: 10 }), [vm(0, { revision: OLD }), vm(1, { revision: OLD }), vm(2, { readySince: NOW - 10000 })]))).toEqual(['Restart web-1']);
  });
  it('partition keeps lower indexes at their revision', () => {
    const p = plan(spec({ partition: 2, maxUnavailable: 3 }), [vm(0, { revision: OLD }), vm(1, { revision: OLD }), vm(2, { revision: OLD })]);
    expect(summary(p)).toEqual(['Restart web-2']);
    expect(plan(spec({ partition: 2 }), [vm(0, { revision: OLD }), vm(1, { revision: OLD }), vm(2)]).complete).toBe(true);
  });
  it('surge: creates extra VMs, then replaces outdated ones once the budget allows', () => {
    const s = spec({ maxUnavailable: 0, maxSurge: 1 });
    const old = [vm(0, { revision: OLD }), vm(1, { revision: OLD }), vm(2, { revision: OLD })];
    expect(summary(plan(s, old))).toEqual(['Create web-3 Surge']);
    expect(summary(plan(s, [...old, vm(3, { ready: false })]))).toEqual([]);
    expect(summary(plan(s, [...old, vm(3)]))).toEqual(['Delete web-2 Replaced']);
    expect(summary(plan(s, [vm(0, { revision: OLD }), vm(1, { revision: OLD }), vm(3)]))).toEqual(['Create web-2 Surge']);
    expect(summary(plan(s, [vm(0), vm(1), vm(2), vm(3)]))).toEqual(['Delete web-3 ScaleDown']);
  });
  it('OnDelete never updates; paused rolls nothing out but still scales', () => {
    const old = [vm(0, { revision: OLD }), vm(1, { revision: OLD, change: 'metadata' })];
    expect(summary(plan(spec({ strategy: 'OnDelete' }), old))).toEqual(['Create web-2 ScaleUp']);
    const p = plan(spec({ paused: true }), old);
    expect(summary(p)).toEqual(['Create web-2 ScaleUp']);
    expect(p.paused).toBe(true);
  });
  it('pauseOnFailure halts on a failing new-revision VM; a new revision resumes', () => {
    const vms = [vm(0, { revision: OLD }), vm(1, { revision: OLD }), vm(2, { ready: false, startFailureCount: 2 })];
    const p = plan(spec({ maxUnavailable: 2 }), vms);
    expect(summary(p)).toEqual([]);
    expect(p.halted?.reason).toBe('NewRevisionFailing');
    expect(p.failing).toEqual(['web-2']);
    expect(plan(spec({ maxUnavailable: 2, pauseOnFailure: false }), vms).halted).toBeUndefined();
    // The template is fixed: web-2's revision is now outdated too, and it is restarted first.
    const fixed = planRollout({ fleet: 'web', spec: spec({ maxUnavailable: 1 }), updateRevision: 'fixed', now: NOW, vms: vms.map((v) => ({ ...v, change: 'restartRequired' as ChangeKind })) });
    expect(fixed.halted).toBeUndefined();
    expect(summary(fixed)).toEqual(['Restart web-2']);
  });
});

// ---- Simulation: apply plans step by step to a world that evolves randomly. ----

interface World { vms: ObservedVM[]; now: number; names: Set<string> }

function apply(world: World, p: Plan, rev: string, t: number): void {
  for (const a of p.actions) {
    if (a.type === 'Create') {
      if (world.names.has(a.name)) throw new Error(`duplicate VM ${a.name}`);
      world.names.add(a.name);
      world.vms.push(vm(a.index, { revision: rev, ready: false, readySince: undefined, createdAt: t, change: 'none' }));
      continue;
    }
    const v = world.vms.find((x) => x.name === a.name)!;
    if (a.type === 'Delete' || a.type === 'Recreate') v.deleting = true;
    else if (a.type === 'Restart') Object.assign(v, { revision: rev, change: 'none', restarting: true, ready: false, readySince: undefined, restartPending: false });
    else Object.assign(v, { revision: rev, change: 'none' });
  }
}

function evolve(world: World, rnd: () => number, failRev: string | undefined, rev: string): void {
  world.now += 3000;
  for (const v of [...world.vms]) {
    const r = rnd();
    if (v.deleting) {
      if (r < 0.6) {
        world.vms.splice(world.vms.indexOf(v), 1);
        world.names.delete(v.name);
      }
    } else if (!v.ready && r < 0.5) {
      if (v.revision === failRev) Object.assign(v, { restarting: false, startFailureCount: v.startFailureCount + 1, failed: true });
      else Object.assign(v, { ready: true, readySince: world.now, restarting: false, failed: false });
    } else if (v.ready && r > 0.97) {
      Object.assign(v, { ready: false, readySince: undefined }); // a VM crashes on its own
    }
    if (v.revision !== rev && v.change === 'none') v.change = 'restartRequired';
  }
}

const unavailable = (s: RolloutSpec, vms: ObservedVM[], now: number) =>
  Math.max(0, s.replicas - vms.filter((v) => !v.deleting && !v.restarting && v.ready && (s.minReadySeconds === 0 || (v.readySince !== undefined && now - v.readySince >= s.minReadySeconds * 1000))).length);

const specArb = fc.record({
  replicas: fc.integer({ min: 0, max: 8 }),
  strategy: fc.constantFrom('RollingUpdate', 'RollingUpdate', 'OnDelete') as fc.Arbitrary<RolloutSpec['strategy']>,
  maxUnavailable: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('0%', '25%', '50%')),
  maxSurge: fc.oneof(fc.integer({ min: 0, max: 2 }), fc.constantFrom('0%', '30%')),
  partition: fc.integer({ min: 0, max: 3 }),
  pauseOnFailure: fc.boolean(),
  paused: fc.boolean(),
  minReadySeconds: fc.constantFrom(0, 0, 5),
  scaleDownPriorities: fc.shuffledSubarray([...SCALE_DOWN_PRIORITIES]),
});
const vmArb = fc.record({
  index: fc.integer({ min: 0, max: 10 }),
  revision: fc.constantFrom(OLD, NEW, 'older'),
  ready: fc.boolean(),
  restarting: fc.boolean(),
  restartPending: fc.boolean(),
  deleting: fc.boolean(),
  drifted: fc.boolean(),
  change: fc.constantFrom<ChangeKind>('none', 'metadata', 'liveUpdatable', 'restartRequired', 'recreate'),
  startFailureCount: fc.constantFrom(0, 0, 1),
  readyAgo: fc.integer({ min: 0, max: 20000 }),
});
const fleetArb = fc.uniqueArray(vmArb, { selector: (v) => v.index, maxLength: 10 }).map((vs) =>
  vs.map(({ readyAgo, ...v }) => vm(v.index, { ...v, readySince: v.ready ? NOW - readyAgo : undefined, change: v.revision === NEW ? (v.change === 'recreate' ? 'none' : v.change) : v.change })),
);

describe('planRollout: properties', () => {
  it('invariant 1: a plan never raises unavailability above maxUnavailable (single step, any observation)', () => {
    fc.assert(
      fc.property(specArb, fleetArb, (s, vms) => {
        const p = plan(s, vms);
        const { maxUnavailable } = rolloutLimits(s);
        const before = unavailable(s, vms, NOW);
        const after = structuredClone(vms);
        for (const a of p.actions) {
          const v = after.find((x) => x.name === ('name' in a ? a.name : ''));
          if (v && (a.type === 'Delete' || a.type === 'Recreate')) v.deleting = true;
          if (v && a.type === 'Restart') v.restarting = true;
        }
        expect(unavailable(s, after, NOW)).toBeLessThanOrEqual(Math.max(maxUnavailable, before));
      }),
      { numRuns: 2000 },
    );
  });

  it('invariant 5: one action per VM, creates only at free indexes, and re-planning the same (stale) observation gives the same plan', () => {
    fc.assert(
      fc.property(specArb, fleetArb, (s, vms) => {
        const p = plan(s, vms);
        expect(plan(s, structuredClone(vms))).toEqual(p);
        const names = p.actions.map((a) => a.name);
        expect(new Set(names).size).toBe(names.length);
        for (const a of p.actions) {
          if (a.type === 'Create') expect(vms.some((v) => v.index === a.index || v.name === a.name)).toBe(false);
          else expect(vms.some((v) => v.name === a.name && !v.deleting)).toBe(true);
        }
        const surge = rolloutLimits(s).maxSurge;
        expect(vms.length + p.actions.filter((a) => a.type === 'Create').length).toBeLessThanOrEqual(Math.max(vms.length, s.replicas + surge));
      }),
      { numRuns: 2000 },
    );
  });

  it('invariants 1 and 5 over whole rollouts: step by step, with crashes, failures, and stale re-plans', () => {
    fc.assert(
      fc.property(specArb, fleetArb, fc.integer(), fc.boolean(), fc.boolean(), (s, initial, seed, failing, stale) => {
        let state = seed | 0;
        const rnd = () => ((state = (Math.imul(state, 1103515245) + 12345) | 0) >>> 0) / 2 ** 32;
        const world: World = { vms: structuredClone(initial), now: NOW, names: new Set(initial.map((v) => v.name)) };
        const { maxUnavailable, maxSurge } = rolloutLimits(s);
        for (let step = 0; step < 40; step++) {
          const observed = structuredClone(world.vms);
          const before = unavailable(s, world.vms, world.now);
          const p = planRollout({ fleet: 'web', spec: s, updateRevision: NEW, now: world.now, vms: observed });
          apply(world, p, NEW, world.now);
          expect(unavailable(s, world.vms, world.now)).toBeLessThanOrEqual(Math.max(maxUnavailable, before));
          if (stale) {
            // The shell crashed and re-planned from the same, now stale, observation: the plan is
            // the same, so its creates hit AlreadyExists instead of making duplicates.
            const again = planRollout({ fleet: 'web', spec: s, updateRevision: NEW, now: world.now, vms: observed });
            expect(again).toEqual(p);
          }
          const active = world.vms.filter((v) => !v.deleting);
          if (initial.length <= s.replicas + maxSurge) expect(world.vms.length).toBeLessThanOrEqual(Math.max(s.replicas + maxSurge, initial.length));
          expect(new Set(active.map((v) => v.index)).size).toBe(active.length);
          evolve(world, rnd, failing ? NEW : undefined, NEW);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a RollingUpdate on a healthy world converges: every VM updated, count = replicas', () => {
    fc.assert(
      fc.property(specArb, fleetArb, (s0, initial) => {
        const s = { ...s0, strategy: 'RollingUpdate' as const, paused: false, partition: 0 };
        const world: World = { vms: initial.map((v) => ({ ...v, startFailureCount: 0, failed: false })), now: NOW, names: new Set(initial.map((v) => v.name)) };
        let p = plan(s, world.vms, world.now);
        for (let step = 0; step < 200 && !(p.complete && p.actions.length === 0); step++) {
          apply(world, p, NEW, world.now);
          world.now += 10000;
          for (const v of [...world.vms]) {
            if (v.deleting) {
              world.vms.splice(world.vms.indexOf(v), 1);
              world.names.delete(v.name);
            } else if (!v.ready || v.restarting) Object.assign(v, { ready: true, readySince: world.now, restarting: false });
          }
          p = plan(s, world.vms, world.now);
        }
        expect(p.complete).toBe(true);
        expect(p.actions).toEqual([]);
        expect(world.vms.filter((v) => !v.deleting)).toHaveLength(s.replicas);
      }),
      { numRuns: 300 },
    );
  });
});

describe('planRollout: VMs on an Obsolete image version', () => {
  const obsolete = (index: number, over: Partial<ObservedVM> = {}) => vm(index, { revision: OLD, obsolete: 'f41', ...over });
  it('rolls them forward under OnDelete, below the partition and while paused, within maxUnavailable', () => {
    const vms = [obsolete(0), obsolete(1), vm(2)];
    for (const s of [spec({ strategy: 'OnDelete' }), spec({ partition: 3 }), spec({ paused: true })]) {
      const p = plan(s, vms);
      expect(summary(p)).toEqual(['Restart web-1']);
      expect(p.blocked).toEqual(['obsolete image: web-0 waits for maxUnavailable 1']);
    }
  });
  it('waits for the disruption window, and never pushes VMs onto a halted rollout', () => {
    const closed = planRollout({ fleet: 'web', spec: spec({ strategy: 'OnDelete' }), updateRevision: NEW, now: NOW, vms: [obsolete(0), vm(1), vm(2)], restartsAllowed: false });
    expect(summary(closed)).toEqual([]);
    expect(closed.blocked).toEqual(['obsolete image: web-0 waits for the disruption window']);
    const halted = plan(spec({ partition: 3 }), [obsolete(0), vm(1, { ready: false, failed: true }), vm(2)]);
    expect(summary(halted)).toEqual([]);
  });
  it('leaves an outdated VM that is not on an Obsolete version to the strategy', () => {
    expect(summary(plan(spec({ strategy: 'OnDelete' }), [vm(0, { revision: OLD }), vm(1), vm(2)]))).toEqual([]);
  });
  it('never more unavailable than maxUnavailable, whatever mix (property)', () => {
    fc.assert(fc.property(fc.array(fc.record({ obsolete: fc.boolean(), outdated: fc.boolean(), ready: fc.boolean() }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 3 }), (vms, maxUnavailable) => {
      const observed = vms.map((v, i) => vm(i, { ...(v.outdated ? { revision: OLD } : {}), ready: v.ready, ...(v.obsolete && v.outdated ? { obsolete: 'f41' } : {}) }));
      const s = spec({ replicas: vms.length, maxUnavailable, strategy: 'OnDelete' });
      const p = plan(s, observed);
      const disrupted = p.actions.filter((a) => a.type === 'Restart' && observed.find((o) => o.name === a.name)?.ready).length;
      const unavailable = observed.filter((o) => !o.ready).length;
      // rolloutLimits as Deployments: maxUnavailable and maxSurge both 0 means maxUnavailable 1.
      expect(disrupted).toBeLessThanOrEqual(Math.max(0, rolloutLimits(s).maxUnavailable - unavailable));
    }));
  });
});
