// Safety invariants 1, 2, 5 and 7 (README "Safety invariants") over the rollout and remediation planners
// together, as the shell combines them: the rollout plans first (so remediation knows which VMs it
// disrupts), remediation plans migrations and fallback restarts, and the rollout fits those
// restarts into the same maxUnavailable budget.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { ChangeKind } from './classify.ts';
import type { Drift, DriftKind } from './drift.ts';
import { DEFAULT_BACKOFF, isInFlight, migrationName, planRemediation, type ObservedMigration, type RemediationPlan, type RemediationSpec, type RemediationVM } from './migration.ts';
import { planRollout, rolloutLimits, type ObservedVM, type Plan, type PlanAction, type RolloutSpec } from './rollout.ts';

const NEW = 'new';
const OLD = 'old';
const NOW = 1_000_000_000;
const MIN = 60_000;

function rolloutSpec(over: Partial<RolloutSpec> = {}): RolloutSpec {
  return { replicas: 3, strategy: 'RollingUpdate', maxUnavailable: 1, maxSurge: 0, partition: 0, pauseOnFailure: true, paused: false, minReadySeconds: 0, scaleDownPriorities: ['NotReady', 'OutdatedRevision', 'HighestIndex'], ...over };
}
function vm(index: number, over: Partial<ObservedVM> = {}): ObservedVM {
  return { name: `web-${index}`, index, revision: NEW, createdAt: index * 1000, ready: true, readySince: 0, deleting: false, restarting: false, restartPending: false, startFailureCount: 0, failed: false, drifted: false, change: 'none', ...over };
}
const rollout = (s: RolloutSpec, vms: ObservedVM[], restartsAllowed?: boolean): Plan =>
  planRollout({ fleet: 'web', spec: s, updateRevision: NEW, now: NOW, vms, ...(restartsAllowed === undefined ? {} : { restartsAllowed }) });
const summary = (p: Plan) => p.actions.map((a) => `${a.type} ${a.name}${a.type === 'Create' || a.type === 'Delete' ? ` ${a.reason}` : ''}${a.type === 'Restart' && a.drift ? ' drift' : ''}`);
const takesDown = (a: PlanAction) => a.type === 'Restart' || a.type === 'Recreate' || a.type === 'Delete';

describe('planRollout: migrating VMs, drift restarts and the disruption window', () => {
  it('never restarts, recreates or replaces a VM whose VMI is migrating, and budgets the rest as usual', () => {
    const old = (i: number, over: Partial<ObservedVM> = {}) => vm(i, { revision: OLD, change: 'restartRequired', ...over });
    expect(summary(rollout(rolloutSpec({ maxUnavailable: 3 }), [old(0), old(1, { migrating: true }), old(2, { change: 'recreate', migrating: true })]))).toEqual(['Restart web-0']);
    // The highest index would go first; it migrates, so the next one does.
    expect(summary(rollout(rolloutSpec(), [old(0), old(1), old(2, { migrating: true })]))).toEqual(['Restart web-1']);
    expect(summary(rollout(rolloutSpec(), [vm(0), vm(1, { restartPending: true, migrating: true }), vm(2)]))).toEqual([]);
    // Surge: a migrating outdated VM is neither replaced nor counted as one to replace.
    const s = rolloutSpec({ maxUnavailable: 0, maxSurge: 1 });
    expect(summary(rollout(s, [old(0, { migrating: true }), old(1, { migrating: true }), old(2, { migrating: true })]))).toEqual([]);
    expect(summary(rollout(s, [old(0), old(1, { migrating: true }), old(2, { migrating: true }), vm(3)]))).toEqual(['Delete web-0 Replaced']);
  });

  it('still updates a migrating VM in place: no restart is involved', () => {
    expect(summary(rollout(rolloutSpec(), [vm(0, { revision: OLD, change: 'liveUpdatable', migrating: true }), vm(1), vm(2)]))).toEqual(['UpdateInPlace web-0']);
  });

  it('restarts drifted VMs that cannot migrate after the rollout, within the same budget', () => {
    const why = 'not live-migratable (HostDevice): restart to repair placement';
    const p = rollout(rolloutSpec({ maxUnavailable: 2 }), [vm(0, { driftRestart: why }), vm(1, { revision: OLD, change: 'restartRequired' }), vm(2, { driftRestart: why })]);
    expect(summary(p)).toEqual(['Restart web-1', 'Restart web-2 drift']);
    expect(p.actions[1]).toEqual({ type: 'Restart', index: 2, name: 'web-2', message: why, drift: true });
    expect(p.blocked).toEqual(['drift: restarting web-0 waits for maxUnavailable 2']);
  });

  it('restarts unavailable drifted VMs for free, and never one that is restarting, migrating, deleting or already acted on', () => {
    const why = 'restart to repair placement';
    const p = rollout(rolloutSpec({ maxUnavailable: 1 }), [vm(0, { driftRestart: why, ready: false }), vm(1, { driftRestart: why, ready: false }), vm(2, { driftRestart: why })]);
    expect(summary(p)).toEqual(['Restart web-1 drift', 'Restart web-0 drift']);
    expect(p.blocked).toEqual(['drift: restarting web-2 waits for maxUnavailable 1']);
    const vms = [vm(0, { driftRestart: why, restarting: true }), vm(1, { driftRestart: why, migrating: true }), vm(2, { driftRestart: why, deleting: true }), vm(3, { driftRestart: why, revision: OLD, change: 'restartRequired' }), vm(4)];
    expect(summary(rollout(rolloutSpec({ replicas: 4, maxUnavailable: 4 }), vms))).toEqual(['Restart web-3']);
    // A VM scaled down is not also restarted.
    expect(summary(rollout(rolloutSpec({ replicas: 2, maxUnavailable: 2 }), [vm(0), vm(1), vm(2, { driftRestart: why })]))).toEqual(['Delete web-2 ScaleDown']);
  });

  it('restarts drifted VMs whatever the strategy, pause or halt', () => {
    const why = 'restart to repair placement';
    const vms = [vm(0, { revision: OLD, change: 'restartRequired' }), vm(1, { driftRestart: why }), vm(2)];
    expect(summary(rollout(rolloutSpec({ strategy: 'OnDelete' }), vms))).toEqual(['Restart web-1 drift']);
    expect(summary(rollout(rolloutSpec({ paused: true }), vms))).toEqual(['Restart web-1 drift']);
    const halted = rollout(rolloutSpec({ replicas: 4, maxUnavailable: 2 }), [...vms, vm(3, { ready: false, startFailureCount: 2 })]);
    expect(halted.halted?.reason).toBe('NewRevisionFailing');
    expect(summary(halted)).toEqual(['Restart web-1 drift']);
  });

  it('while the disruption window is closed: no restart, recreate, replacement or surge; scaling and in-place updates go on', () => {
    const vms = [vm(0, { revision: OLD, change: 'restartRequired' }), vm(1, { revision: OLD, change: 'recreate' }), vm(2, { revision: OLD, change: 'metadata' }), vm(3, { restartPending: true })];
    const closed = rollout(rolloutSpec({ replicas: 5, maxUnavailable: 5, maxSurge: 2 }), vms, false);
    expect(summary(closed)).toEqual(['Create web-4 ScaleUp', 'UpdateInPlace web-2']);
    expect(closed.blocked).toEqual(['rollout: web-3 waits for the disruption window', 'rollout: web-1 waits for the disruption window', 'rollout: web-0 waits for the disruption window']);
    expect(summary(rollout(rolloutSpec({ replicas: 5, maxUnavailable: 5, maxSurge: 2 }), vms, true))).toEqual([
      'Create web-4 ScaleUp',
      'Create web-5 Surge',
      'Create web-6 Surge',
      'UpdateInPlace web-2',
      'Restart web-3',
      'Recreate web-1',
      'Restart web-0',
    ]);
    // No surge VM is created while the window is closed.
    const old = [vm(0, { revision: OLD, change: 'restartRequired' }), vm(1, { revision: OLD, change: 'restartRequired' }), vm(2, { revision: OLD, change: 'restartRequired' })];
    expect(summary(rollout(rolloutSpec({ maxUnavailable: 0, maxSurge: 1 }), old, false))).toEqual([]);
    expect(summary(rollout(rolloutSpec({ maxUnavailable: 0, maxSurge: 1 }), old, true))).toEqual(['Create web-3 Surge']);
  });

  it('an open window (or none given) changes nothing', () => {
    const vms = [vm(0, { revision: OLD, change: 'restartRequired' }), vm(1, { revision: OLD }), vm(2, { driftRestart: 'x', ready: false })];
    expect(rollout(rolloutSpec(), vms, true)).toEqual(rollout(rolloutSpec(), vms));
  });
});

// ---- A random fleet: rollout state, drift and migrations per VM. ----

const DRIFTS: Record<DriftKind, Drift> = {
  placement: { kind: 'placement', detail: 'NodeSelector', message: 'node "n1" does not match nodeSelector zone=a' },
  pendingLiveUpdate: { kind: 'pendingLiveUpdate', detail: 'HotMemoryChange', message: 'the VMI has HotMemoryChange' },
  manualEdit: { kind: 'manualEdit', detail: 'ManualEdit', message: 'edited by hand' },
  imbalance: { kind: 'imbalance', detail: 'b', message: 'zone=a has 3 VMs' },
};
const drainDrift: Drift = { kind: 'placement', detail: 'DrainTaint', message: 'node "n1" is being drained' };

interface FleetVM {
  rollout: ObservedVM;
  drift: Drift[];
  liveMigratable: boolean;
  migrations: ObservedMigration[];
  migrationStateInFlight: boolean;
}
interface World {
  rollout: RolloutSpec;
  remediation: RemediationSpec;
  restartsAllowed: boolean;
  clusterSlots: number;
  vms: FleetVM[];
}

const migrationArb = fc.record({
  ours: fc.boolean(),
  attempt: fc.integer({ min: 1, max: 5 }),
  phase: fc.constantFrom('', 'Pending', 'Running', 'Running', 'Succeeded', 'Failed'),
  reason: fc.constantFrom<DriftKind>('placement', 'pendingLiveUpdate', 'imbalance'),
  age: fc.integer({ min: 0, max: 60 * MIN }),
  deleting: fc.constantFrom(false, false, true),
});
const fleetVMArb = fc.record({
  index: fc.integer({ min: 0, max: 9 }),
  revision: fc.constantFrom(OLD, NEW, NEW),
  change: fc.constantFrom<ChangeKind>('none', 'metadata', 'liveUpdatable', 'restartRequired', 'recreate'),
  ready: fc.constantFrom(true, true, true, false),
  restarting: fc.constantFrom(false, false, false, true),
  restartPending: fc.constantFrom(false, false, true),
  deleting: fc.constantFrom(false, false, false, true),
  startFailureCount: fc.constantFrom(0, 0, 0, 1),
  readyAgo: fc.integer({ min: 0, max: 20_000 }),
  drift: fc.subarray(['placement', 'pendingLiveUpdate', 'manualEdit', 'imbalance'] as DriftKind[]),
  drained: fc.boolean(),
  liveMigratable: fc.constantFrom(true, true, false),
  migrations: fc.uniqueArray(migrationArb, { selector: (m) => `${m.ours}/${m.attempt}`, maxLength: 3 }),
  migrationStateInFlight: fc.constantFrom(false, false, false, true),
});
const worldArb: fc.Arbitrary<World> = fc
  .record({
    rollout: fc.record({
      replicas: fc.integer({ min: 0, max: 8 }),
      strategy: fc.constantFrom<RolloutSpec['strategy']>('RollingUpdate', 'RollingUpdate', 'OnDelete'),
      maxUnavailable: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('0%', '25%', '50%')),
      maxSurge: fc.oneof(fc.integer({ min: 0, max: 2 }), fc.constantFrom('0%', '30%')),
      partition: fc.constantFrom(0, 0, 2),
      pauseOnFailure: fc.boolean(),
      paused: fc.constantFrom(false, false, true),
      minReadySeconds: fc.constantFrom(0, 0, 5),
    }),
    remediation: fc.record({
      migrationEnabled: fc.constantFrom(true, true, false),
      maxConcurrent: fc.integer({ min: 1, max: 4 }),
      timeoutMs: fc.constantFrom(5 * MIN, 30 * MIN),
      fallback: fc.constantFrom<RemediationSpec['fallback']>('Restart', 'Restart', 'None'),
      manualEdits: fc.constantFrom<RemediationSpec['manualEdits']>('Revert', 'Report'),
    }),
    restartsAllowed: fc.constantFrom(true, true, false),
    clusterSlots: fc.integer({ min: 0, max: 6 }),
    vms: fc.uniqueArray(fleetVMArb, { selector: (v) => v.index, maxLength: 10 }),
  })
  .map((w) => ({
    rollout: { ...w.rollout, scaleDownPriorities: ['NotReady', 'OutdatedRevision', 'HighestIndex'] as const },
    remediation: w.remediation,
    restartsAllowed: w.restartsAllowed,
    clusterSlots: w.clusterSlots,
    vms: w.vms.map((r) => {
      const name = `web-${r.index}`;
      return {
        rollout: vm(r.index, {
          revision: r.revision,
          change: r.revision === NEW ? (r.change === 'recreate' ? 'none' : r.change) : r.change,
          ready: r.ready,
          readySince: r.ready ? NOW - r.readyAgo : undefined,
          restarting: r.restarting,
          restartPending: r.restartPending,
          deleting: r.deleting,
          startFailureCount: r.startFailureCount,
        }),
        drift: r.drift.map((k) => (k === 'placement' && r.drained ? drainDrift : DRIFTS[k])),
        liveMigratable: r.liveMigratable,
        migrations: r.migrations.map((m, k): ObservedMigration => {
          const final = m.phase === 'Succeeded' || m.phase === 'Failed';
          const base = { phase: m.phase, createdAt: NOW - m.age, deleting: m.deleting, ...(final ? { finishedAt: NOW - Math.floor(m.age / 2) } : {}) };
          return m.ours
            ? { ...base, name: migrationName(name, m.attempt), ours: true, attempt: m.attempt, reason: m.reason }
            : { ...base, name: `kubevirt-evacuation-${r.index}-${k}`, ours: false, attempt: 0 };
        }),
        migrationStateInFlight: r.migrationStateInFlight,
      };
    }),
  }));

const migrating = (v: FleetVM) => v.migrationStateInFlight || v.migrations.some(isInFlight);
const othersInFlight = (v: FleetVM) => v.migrationStateInFlight || v.migrations.some((m) => !m.ours && isInFlight(m));

interface Step {
  first: Plan;
  remediation: RemediationPlan;
  final: Plan;
}

/** One reconcile of the fleet, as the shell does it. */
function reconcile(w: World, now = NOW): Step {
  const observed = (driftRestart: Map<string, string>) =>
    w.vms.map((v) => ({ ...v.rollout, migrating: migrating(v), ...(driftRestart.has(v.rollout.name) ? { driftRestart: driftRestart.get(v.rollout.name)! } : {}) }));
  const plan = (vms: ObservedVM[]) => planRollout({ fleet: 'web', spec: w.rollout, updateRevision: NEW, now, vms, restartsAllowed: w.restartsAllowed });
  const first = plan(observed(new Map()));
  const disrupted = new Set(first.actions.filter(takesDown).map((a) => a.name));
  const remediation = planRemediation({
    fleet: 'web',
    spec: w.remediation,
    backoff: DEFAULT_BACKOFF,
    restartsAllowed: w.restartsAllowed,
    clusterSlots: w.clusterSlots,
    now,
    vms: w.vms
      .filter((v) => !v.rollout.deleting)
      .map(
        (v): RemediationVM => ({
          name: v.rollout.name,
          index: v.rollout.index,
          drift: v.drift,
          liveMigratable: { status: v.liveMigratable },
          migrations: v.migrations,
          migrationStateInFlight: v.migrationStateInFlight,
          disrupted: disrupted.has(v.rollout.name),
        }),
      ),
  });
  const final = plan(observed(new Map(remediation.restarts.map((r) => [r.vm, r.message]))));
  return { first, remediation, final };
}

const isAvailable = (s: RolloutSpec, v: ObservedVM, now = NOW) =>
  !v.deleting && !v.restarting && v.ready && (s.minReadySeconds === 0 || (v.readySince !== undefined && now - v.readySince >= s.minReadySeconds * 1000));

describe('invariant 1: fallback restarts and the rollout together stay within maxUnavailable', () => {
  it('the plan takes down no more available VMs than the budget leaves', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const { remediation, final } = reconcile(w);
        const { maxUnavailable } = rolloutLimits(w.rollout);
        const active = w.vms.map((v) => v.rollout).filter((v) => !v.deleting);
        const available = active.filter((v) => isAvailable(w.rollout, v));
        const down = new Set(final.actions.filter(takesDown).map((a) => a.name));
        const takenDown = available.filter((v) => down.has(v.name)).length;
        expect(takenDown).toBeLessThanOrEqual(Math.max(0, available.length - (w.rollout.replicas - maxUnavailable)));
        const before = Math.max(0, w.rollout.replicas - available.length);
        expect(Math.max(0, w.rollout.replicas - (available.length - takenDown))).toBeLessThanOrEqual(Math.max(maxUnavailable, before));
        // Every drift restart is one remediation asked for, and none comes while restarts wait.
        const driftRestarts = final.actions.filter((a) => a.type === 'Restart' && a.drift).map((a) => a.name);
        for (const name of driftRestarts) expect(remediation.restarts.map((r) => r.vm)).toContain(name);
        if (!w.restartsAllowed) expect(final.actions.filter(takesDown).filter((a) => a.type !== 'Delete' || a.reason !== 'ScaleDown')).toEqual([]);
      }),
      { numRuns: 3000 },
    );
  });

  it('drift restarts come after the rollout and leave it unchanged; no VM is migrated and disrupted at once', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const { first, remediation, final } = reconcile(w);
        expect(final.actions.filter((a) => !(a.type === 'Restart' && a.drift))).toEqual(first.actions);
        const migrated = new Set(remediation.actions.filter((a) => a.type === 'Migrate').map((a) => a.vm));
        for (const a of final.actions) if (takesDown(a)) expect(migrated.has(a.name)).toBe(false);
        const names = final.actions.map((a) => a.name);
        expect(new Set(names).size).toBe(names.length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('invariant 2: migration budgets', () => {
  it('Migrate actions ≤ maxConcurrent − fleet VMs migrating, ≤ cluster slots, one per VM, never for a VM already migrating', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const { remediation } = reconcile(w);
        const migrates = remediation.actions.filter((a) => a.type === 'Migrate');
        const running = w.vms.filter((v) => !v.rollout.deleting);
        const inFlight = running.filter(migrating).length;
        expect(migrates.length).toBeLessThanOrEqual(Math.max(0, w.remediation.maxConcurrent - inFlight));
        expect(migrates.length).toBeLessThanOrEqual(w.clusterSlots);
        expect(new Set(migrates.map((a) => a.vm)).size).toBe(migrates.length);
        for (const a of migrates) expect(migrating(running.find((v) => v.rollout.name === a.vm)!)).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });
});

// ---- Many reconciles in a row: migrations progress, drift comes and goes, KubeVirt migrates too. ----

interface Sim {
  world: World;
  now: number;
  /** Every migration name ever created for the fleet. */
  created: Set<string>;
}

function applyRemediation(sim: Sim, p: RemediationPlan): void {
  for (const a of p.actions) {
    const v = sim.world.vms.find((x) => x.rollout.name === a.vm)!;
    if (a.type === 'Migrate') {
      if (sim.created.has(a.name) || v.migrations.some((m) => m.name === a.name)) throw new Error(`duplicate migration ${a.name}`);
      sim.created.add(a.name);
      v.migrations.push({ name: a.name, phase: '', ours: true, attempt: a.attempt, reason: a.reason, createdAt: sim.now, deleting: false });
    } else if (a.type === 'Abort') {
      v.migrations.find((m) => m.name === a.name)!.deleting = true;
    } else {
      v.drift = v.drift.filter((d) => d.kind !== 'manualEdit');
    }
  }
}

function evolve(sim: Sim, rnd: () => number): void {
  sim.now += 20_000;
  for (const v of sim.world.vms) {
    for (const m of v.migrations) {
      if (!isInFlight(m)) continue;
      const r = rnd();
      if (m.deleting && r < 0.5) Object.assign(m, { phase: 'Failed', finishedAt: sim.now, deleting: false });
      else if (m.phase === '' && r < 0.6) m.phase = 'Running';
      else if (m.phase === 'Running' && r < 0.3) {
        Object.assign(m, { phase: 'Succeeded', finishedAt: sim.now });
        if (rnd() < 0.8) v.drift = v.drift.filter((d) => d.kind === 'manualEdit');
      } else if (m.phase === 'Running' && r < 0.4) Object.assign(m, { phase: 'Failed', finishedAt: sim.now, failureReason: 'target pod failed' });
    }
    if (v.migrationStateInFlight && rnd() < 0.5) v.migrationStateInFlight = false;
    const r = rnd();
    if (r < 0.05 && !migrating(v)) v.migrations.push({ name: `kubevirt-evacuation-${v.rollout.index}-${sim.now}`, phase: 'Pending', ours: false, attempt: 0, createdAt: sim.now, deleting: false });
    else if (r < 0.15 && v.drift.length === 0) v.drift = [rnd() < 0.5 ? DRIFTS.placement : DRIFTS.pendingLiveUpdate];
    else if (r < 0.2) v.liveMigratable = !v.liveMigratable;
  }
  // A cluster budget of 5, of which other fleets use 0 to 2.
  sim.world.clusterSlots = Math.max(0, 5 - Math.floor(rnd() * 3) - sim.world.vms.filter(migrating).length);
}

describe('invariants 2 and 5 over many reconciles', () => {
  it('names are deterministic and never reused, the budget holds, and observed migrations are not duplicated', () => {
    fc.assert(
      fc.property(worldArb, fc.integer(), (w, seed) => {
        let state = seed | 0;
        const rnd = () => ((state = (Math.imul(state, 1103515245) + 12345) | 0) >>> 0) / 2 ** 32;
        const world = structuredClone(w);
        for (const v of world.vms) v.rollout.deleting = false;
        const sim: Sim = { world, now: NOW, created: new Set(world.vms.flatMap((v) => v.migrations.map((m) => m.name))) };
        for (let step = 0; step < 25; step++) {
          const snapshot = structuredClone(sim.world);
          const { remediation } = reconcile(sim.world, sim.now);
          // A crashed controller re-planning from the same observation names the same migrations.
          expect(reconcile(snapshot, sim.now).remediation).toEqual(remediation);
          const before = sim.world.vms.filter(migrating).length;
          applyRemediation(sim, remediation);
          const migrated = new Set(remediation.actions.filter((a) => a.type === 'Migrate').map((a) => a.vm));
          const after = sim.world.vms.filter(migrating).length;
          expect(after).toBeLessThanOrEqual(Math.max(before, sim.world.remediation.maxConcurrent));
          // Observed in flight: re-planning at once starts nothing new for those VMs.
          const replan = reconcile(sim.world, sim.now).remediation;
          expect(replan.actions.filter((a) => a.type === 'Migrate' && migrated.has(a.vm))).toEqual([]);
          // One per VMI: only VMs with nothing in flight got a migration.
          for (const v of snapshot.vms) if (migrated.has(v.rollout.name)) expect(migrating(v)).toBe(false);
          evolve(sim, rnd);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the same observation gives the same migration names, which no existing migration has', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const a = reconcile(w).remediation;
        const b = reconcile(structuredClone(w)).remediation;
        expect(b.actions).toEqual(a.actions);
        const existing = new Set(w.vms.flatMap((v) => v.migrations.map((m) => m.name)));
        for (const m of a.actions) if (m.type === 'Migrate') expect(existing.has(m.name)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("invariant 7: KubeVirt's and users' migrations are respected", () => {
  it('a VM migrating by someone else gets no Migrate, no Abort of that migration, and no rollout restart, recreate or replacement', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const { remediation, final } = reconcile(w);
        for (const v of w.vms.filter(othersInFlight)) {
          const name = v.rollout.name;
          expect(remediation.actions.filter((a) => a.vm === name && a.type === 'Migrate')).toEqual([]);
          expect(remediation.restarts.map((r) => r.vm)).not.toContain(name);
          expect(final.actions.filter((a) => a.name === name && (a.type === 'Restart' || a.type === 'Recreate' || (a.type === 'Delete' && a.reason === 'Replaced')))).toEqual([]);
        }
        const theirs = new Set(w.vms.flatMap((v) => v.migrations.filter((m) => !m.ours).map((m) => m.name)));
        for (const a of remediation.actions) if (a.type === 'Abort') expect(theirs.has(a.name)).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });
});
