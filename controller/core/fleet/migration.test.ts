import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Drift, DriftKind } from './drift.ts';
import {
  DEFAULT_BACKOFF,
  backoffDelay,
  isInFlight,
  migrationName,
  planRemediation,
  remediationSpecOf,
  type ObservedMigration,
  type RemediationInput,
  type RemediationPlan,
  type RemediationSpec,
  type RemediationVM,
} from './migration.ts';

const NOW = 100_000_000;
const SEC = 1000;
const MIN = 60 * SEC;

const placement = (detail = 'NodeSelector'): Drift => ({ kind: 'placement', detail, message: `node breaks ${detail}` });
const pending: Drift = { kind: 'pendingLiveUpdate', detail: 'HotVCPUChange', message: 'the VMI has HotVCPUChange' };
const manual: Drift = { kind: 'manualEdit', detail: 'ManualEdit', message: 'edited by hand: cpu' };
const imbalance: Drift = { kind: 'imbalance', detail: 'zone-a', message: 'zone=a has 3 VMs' };

function spec(over: Partial<RemediationSpec> = {}): RemediationSpec {
  return { migrationEnabled: true, maxConcurrent: 2, timeoutMs: 30 * MIN, fallback: 'None', manualEdits: 'Revert', ...over };
}
function vm(index: number, over: Partial<RemediationVM> = {}): RemediationVM {
  return { name: `web-${index}`, index, drift: [], liveMigratable: { status: true }, migrations: [], migrationStateInFlight: false, disrupted: false, ...over };
}
/** One of our migrations of web-<index>. */
function ours(index: number, attempt: number, over: Partial<ObservedMigration> = {}): ObservedMigration {
  return { name: migrationName(`web-${index}`, attempt), phase: 'Running', ours: true, attempt, reason: 'placement', createdAt: NOW - MIN, deleting: false, ...over };
}
function theirs(name: string, over: Partial<ObservedMigration> = {}): ObservedMigration {
  return { name, phase: 'Running', ours: false, attempt: 0, createdAt: NOW - MIN, deleting: false, ...over };
}
const remediate = (vms: RemediationVM[], over: Partial<RemediationInput> = {}): RemediationPlan =>
  planRemediation({ fleet: 'web', spec: spec(), backoff: DEFAULT_BACKOFF, restartsAllowed: true, clusterSlots: 5, now: NOW, vms, ...over });
const summary = (p: RemediationPlan) => p.actions.map((a) => `${a.type} ${a.vm}${a.type === 'Revert' ? '' : ` ${a.name}`}`);
const note = (p: RemediationPlan, name: string) => p.reports.find((r) => r.vm === name)?.note;

describe('remediation settings', () => {
  const base = { selector: { matchLabels: {} }, image: { name: 'i', volume: 'v', version: 'x' }, template: { spec: { template: {} } } };
  it('applies the schema defaults', () => {
    expect(remediationSpecOf(base)).toEqual({ migrationEnabled: true, maxConcurrent: 2, timeoutMs: 30 * MIN, fallback: 'None', manualEdits: 'Revert' });
  });
  it('reads the fleet spec', () => {
    const r = { liveMigration: { enabled: false, maxConcurrent: 7, timeout: '1h30m', fallback: 'Restart' as const }, manualEdits: 'Report' as const };
    expect(remediationSpecOf({ ...base, remediation: r })).toEqual({ migrationEnabled: false, maxConcurrent: 7, timeoutMs: 90 * MIN, fallback: 'Restart', manualEdits: 'Report' });
  });
  it('names migrations after the VMI and the attempt', () => {
    expect(migrationName('web-3', 2)).toBe('web-3-migrate-2');
  });
  it('treats Succeeded and Failed as final, anything else as in flight', () => {
    expect(['', 'Pending', 'Scheduling', 'Scheduled', 'PreparingTarget', 'TargetReady', 'Running'].every((phase) => isInFlight(theirs('m', { phase })))).toBe(true);
    expect(isInFlight(theirs('m', { phase: 'Succeeded' })) || isInFlight(theirs('m', { phase: 'Failed' }))).toBe(false);
  });
});

describe('backoffDelay', () => {
  const b = { baseMs: 10 * SEC, maxMs: 5 * MIN };
  it('is zero before any failure, then doubles from the base up to the maximum', () => {
    expect([-1, 0, 1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, b))).toEqual([0, 0, 10, 20, 40, 80, 160, 300, 300].map((s) => s * SEC));
  });
  it('stays finite for very many failures', () => {
    expect(backoffDelay(10_000, b)).toBe(5 * MIN);
    expect(backoffDelay(10_000, { baseMs: 1, maxMs: Number.MAX_SAFE_INTEGER })).toBe(2 ** 30);
  });
  it('is non-decreasing, at most the maximum, and at least the base (capped) after a failure', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 1e8 }), (n, baseMs, maxMs) => {
        const d = backoffDelay(n, { baseMs, maxMs });
        expect(d).toBeLessThanOrEqual(backoffDelay(n + 1, { baseMs, maxMs }));
        expect(d).toBeLessThanOrEqual(maxMs);
        if (n > 0) expect(d).toBeGreaterThanOrEqual(Math.min(baseMs, maxMs));
      }),
    );
  });
});

describe('planRemediation: live migration', () => {
  it('does nothing for a fleet without drift', () => {
    expect(remediate([vm(0), vm(1)])).toEqual({ actions: [], restarts: [], reports: [], migrating: [], notMigratable: [], waitingForBudget: 0, standby: [] });
  });

  it('migrates a drifted, live-migratable VM under a deterministic name', () => {
    const p = remediate([vm(0), vm(1, { drift: [placement('Taint')] })]);
    expect(p.actions).toEqual([{ type: 'Migrate', vm: 'web-1', name: 'web-1-migrate-1', attempt: 1, reason: 'placement', message: 'placement: node breaks Taint' }]);
    expect(p.reports).toEqual([{ vm: 'web-1', drift: [placement('Taint')], remedy: 'LiveMigration', note: 'migration web-1-migrate-1 started' }]);
    expect(p.nextCheckAt).toBeUndefined();
  });

  it('repairs pending live updates and imbalance too, with the node selector of an imbalance move', () => {
    const p = remediate([vm(0, { drift: [pending] }), vm(1, { drift: [imbalance], addedNodeSelector: { 'topology.kubernetes.io/zone': 'b' } })]);
    expect(p.actions).toEqual([
      { type: 'Migrate', vm: 'web-0', name: 'web-0-migrate-1', attempt: 1, reason: 'pendingLiveUpdate', message: 'pendingLiveUpdate: the VMI has HotVCPUChange' },
      { type: 'Migrate', vm: 'web-1', name: 'web-1-migrate-1', attempt: 1, reason: 'imbalance', addedNodeSelector: { 'topology.kubernetes.io/zone': 'b' }, message: 'imbalance: zone=a has 3 VMs' },
    ]);
  });

  it('numbers the next attempt after the highest of ours, ignoring others’ migrations', () => {
    const migrations = [ours(0, 1, { phase: 'Succeeded', reason: 'pendingLiveUpdate' }), ours(0, 3, { phase: 'Succeeded', reason: 'pendingLiveUpdate' }), theirs('kubevirt-evacuation-x', { phase: 'Succeeded', attempt: 0 })];
    expect(summary(remediate([vm(0, { drift: [pending], migrations })]))).toEqual(['Migrate web-0 web-0-migrate-4']);
  });

  it('gives the same plan, with the same names, for the same observation', () => {
    const vms = [vm(0, { drift: [placement()] }), vm(1, { drift: [pending], migrations: [ours(1, 1, { phase: 'Failed', finishedAt: NOW - MIN })] }), vm(2, { drift: [imbalance] })];
    const p = remediate(vms);
    expect(summary(p)).toEqual(['Migrate web-0 web-0-migrate-1', 'Migrate web-1 web-1-migrate-2']);
    expect(remediate(structuredClone(vms))).toEqual(p);
  });
});

describe('planRemediation: budgets (invariant 2)', () => {
  const drifted = [0, 1, 2, 3].map((i) => vm(i, { drift: [placement()] }));

  it('starts at most maxConcurrent migrations and reports the rest as waiting', () => {
    const p = remediate(drifted);
    expect(summary(p)).toEqual(['Migrate web-0 web-0-migrate-1', 'Migrate web-1 web-1-migrate-1']);
    expect(p.waitingForBudget).toBe(2);
    expect(note(p, 'web-3')).toBe('waiting: 2 migrations of the fleet in flight (maxConcurrent)');
  });

  it("counts every VM of the fleet with a migration in flight, whoever started it, against maxConcurrent", () => {
    expect(summary(remediate([...drifted, vm(4, { migrations: [theirs('evac')] })]))).toEqual(['Migrate web-0 web-0-migrate-1']);
    expect(summary(remediate([...drifted, vm(4, { migrationStateInFlight: true })]))).toEqual(['Migrate web-0 web-0-migrate-1']);
    expect(summary(remediate([...drifted, vm(4, { migrations: [ours(4, 1)] }), vm(5, { migrations: [theirs('evac')] })]))).toEqual([]);
    // Two migrations of one VMI (ours being aborted, and KubeVirt's) use one slot: they are one VM.
    expect(summary(remediate([...drifted, vm(4, { migrations: [ours(4, 1, { deleting: true }), theirs('evac')] })]))).toEqual(['Migrate web-0 web-0-migrate-1']);
    // Finished migrations use no slot.
    expect(summary(remediate([...drifted.slice(0, 2), vm(4, { migrations: [ours(4, 1, { phase: 'Succeeded' }), theirs('evac', { phase: 'Failed' })] })]))).toHaveLength(2);
  });

  it('stays within the cluster-wide budget', () => {
    expect(summary(remediate(drifted, { clusterSlots: 1 }))).toEqual(['Migrate web-0 web-0-migrate-1']);
    const none = remediate(drifted, { clusterSlots: 0 });
    expect(none.actions).toEqual([]);
    expect(none.waitingForBudget).toBe(4);
    expect(note(none, 'web-0')).toBe('waiting: the cluster-wide migration budget is used up');
    expect(remediate(drifted, { clusterSlots: -3 }).actions).toEqual([]);
    expect(remediate(drifted, { spec: spec({ maxConcurrent: 10 }), clusterSlots: 3 }).actions).toHaveLength(3);
  });

  it('goes most urgent first: draining or cordoned nodes, other placement, pending updates, imbalance; then fewer failures, then lowest index', () => {
    const failedLongAgo = [ours(1, 1, { phase: 'Failed', finishedAt: NOW - 10 * MIN })];
    const vms = [
      vm(0, { drift: [imbalance] }),
      vm(1, { drift: [placement('NodeSelector')], migrations: failedLongAgo }),
      vm(2, { drift: [pending] }),
      vm(3, { drift: [placement('NodeAffinity')] }),
      vm(4, { drift: [placement('DrainTaint')] }),
      vm(5, { drift: [placement('Unschedulable')] }),
    ];
    const order = (n: number) => remediate(vms, { spec: spec({ maxConcurrent: n }), clusterSlots: 10 }).actions.map((a) => a.vm);
    expect(order(10)).toEqual(['web-4', 'web-5', 'web-3', 'web-1', 'web-2', 'web-0']);
    expect(order(1)).toEqual(['web-4']);
    expect(order(3)).toEqual(['web-4', 'web-5', 'web-3']);
  });
});

describe('planRemediation: migrations in flight (invariant 7) and timeouts', () => {
  it("never starts a second migration of a VMI, and waits for KubeVirt's or a user's", () => {
    const p = remediate([
      vm(0, { drift: [placement()], migrations: [ours(0, 1)] }),
      vm(1, { drift: [placement()], migrations: [theirs('kubevirt-evacuation-abc')] }),
      vm(2, { drift: [pending], migrationStateInFlight: true }),
      vm(3, { migrations: [theirs('kubevirt-workload-update-def', { phase: '' })] }),
    ]);
    expect(p.actions).toEqual([]);
    expect(p.migrating).toEqual(['web-0', 'web-1', 'web-2', 'web-3']);
    expect(note(p, 'web-0')).toBe('migration web-0-migrate-1 in flight');
    expect(note(p, 'web-1')).toBe('waiting for a migration started by KubeVirt or a user');
    expect(note(p, 'web-2')).toBe('waiting for a migration started by KubeVirt or a user');
    expect(p.reports.map((r) => r.vm)).toEqual(['web-0', 'web-1', 'web-2']);
    expect(p.nextCheckAt).toBe(NOW - MIN + 30 * MIN);
  });

  it('aborts our migration once it has run for the timeout, once, and never anyone else’s', () => {
    const started = NOW - 30 * MIN;
    const p = remediate([vm(0, { drift: [placement()], migrations: [ours(0, 1, { createdAt: started, phase: '' })] }), vm(1, { migrations: [theirs('evac', { createdAt: NOW - 10 * 60 * MIN })] })]);
    expect(p.actions).toEqual([{ type: 'Abort', vm: 'web-0', name: 'web-0-migrate-1', message: 'migration web-0-migrate-1 still unadmitted after 1800s: aborted' }]);
    expect(p.nextCheckAt).toBeUndefined();
    // Being deleted: aborted already; the VMI still counts as migrating.
    const again = remediate([vm(0, { drift: [placement()], migrations: [ours(0, 1, { createdAt: started, deleting: true })] })]);
    expect(again.actions).toEqual([]);
    expect(again.migrating).toEqual(['web-0']);
    expect(remediate([vm(0, { migrations: [ours(0, 1, { createdAt: started + 1, phase: 'Running' })] })]).actions).toEqual([]);
  });

  it('wakes up when the earliest running migration of ours times out', () => {
    const p = remediate([vm(0, { migrations: [ours(0, 1, { createdAt: NOW - 20 * MIN })] }), vm(1, { migrations: [ours(1, 1, { createdAt: NOW - 25 * MIN })] })]);
    expect(p.nextCheckAt).toBe(NOW + 5 * MIN);
  });

  it('aborts a timed-out migration even of a VM the rollout disrupts', () => {
    const p = remediate([vm(0, { disrupted: true, drift: [placement()], migrations: [ours(0, 2, { createdAt: 0 })] })]);
    expect(summary(p)).toEqual(['Abort web-0 web-0-migrate-2']);
    expect(p.reports).toEqual([]);
  });
});

describe('planRemediation: retries', () => {
  const failed = (attempt: number, finishedAt: number, over: Partial<ObservedMigration> = {}) => ours(0, attempt, { phase: 'Failed', finishedAt, ...over });

  it('retries a failed migration after the backoff, under the next name', () => {
    const early = remediate([vm(0, { drift: [placement()], migrations: [failed(1, NOW - 4 * SEC)] })]);
    expect(early.actions).toEqual([]);
    expect(early.nextCheckAt).toBe(NOW + 6 * SEC);
    expect(note(early, 'web-0')).toBe('retry after 1 failed migration in 6s');
    expect(summary(remediate([vm(0, { drift: [placement()], migrations: [failed(1, NOW - 10 * SEC)] })]))).toEqual(['Migrate web-0 web-0-migrate-2']);
  });

  it('doubles the delay with each consecutive failure, counting back to the last success', () => {
    const two = remediate([vm(0, { drift: [pending], migrations: [failed(1, NOW - 50 * SEC), failed(2, NOW - 15 * SEC)] })]);
    expect(two.nextCheckAt).toBe(NOW + 5 * SEC);
    expect(note(two, 'web-0')).toBe('retry after 2 failed migrations in 5s');
    // A success between failures resets the count: only attempt 3 counts.
    const reset = remediate([vm(0, { drift: [pending], migrations: [failed(1, 0), ours(0, 2, { phase: 'Succeeded', reason: 'pendingLiveUpdate' }), failed(3, NOW - 15 * SEC)] })]);
    expect(summary(reset)).toEqual(['Migrate web-0 web-0-migrate-4']);
  });

  it('measures the backoff from creation when the end is unknown, and uses the given backoff', () => {
    const p = remediate([vm(0, { drift: [placement()], migrations: [ours(0, 1, { phase: 'Failed', createdAt: NOW - 2 * SEC })] })], { backoff: { baseMs: 5 * SEC, maxMs: MIN } });
    expect(p.nextCheckAt).toBe(NOW + 3 * SEC);
  });

  it('treats a success the shell found misplaced as a failure, and a plain success as the end of a failure run', () => {
    const landed = ours(0, 1, { phase: 'Succeeded', reason: 'placement', finishedAt: NOW - 5 * SEC });
    const p = remediate([vm(0, { drift: [placement('Taint')], migrations: [{ ...landed, misplaced: true }] })]);
    expect(p.actions).toEqual([]);
    expect(p.nextCheckAt).toBe(NOW + 5 * SEC);
    // A success not found misplaced (the VM drifted again later): migrate again at once.
    expect(summary(remediate([vm(0, { drift: [placement()], migrations: [landed] })]))).toEqual(['Migrate web-0 web-0-migrate-2']);
    // Failures before a plain success do not count.
    const older = ours(0, 0, { phase: 'Failed', attempt: 0, finishedAt: NOW - SEC });
    expect(summary(remediate([vm(0, { drift: [pending], migrations: [landed, older] })]))).toEqual(['Migrate web-0 web-0-migrate-2']);
  });

  it('prefers a VM with fewer failures among equally urgent ones', () => {
    const vms = [vm(0, { drift: [placement()], migrations: [failed(1, 0)] }), vm(1, { drift: [placement()] })];
    expect(summary(remediate(vms, { spec: spec({ maxConcurrent: 1 }) }))).toEqual(['Migrate web-1 web-1-migrate-1']);
  });
});

describe('planRemediation: fallback and manual edits', () => {
  const stuck = { status: false, reason: 'DisksNotLiveMigratable' };

  it('reports a VM that cannot migrate when the fallback is None', () => {
    const p = remediate([vm(0, { drift: [placement()], liveMigratable: stuck })]);
    expect(p.actions).toEqual([]);
    expect(p.restarts).toEqual([]);
    expect(p.notMigratable).toEqual(['web-0']);
    expect(p.reports).toEqual([{ vm: 'web-0', drift: [placement()], remedy: 'None', note: 'not live-migratable (DisksNotLiveMigratable): reported only (fallback None)' }]);
  });

  it('restarts it instead with the Restart fallback, only while restarts are allowed', () => {
    const vms = [vm(0, { drift: [placement(), pending], liveMigratable: stuck })];
    const p = remediate(vms, { spec: spec({ fallback: 'Restart' }) });
    expect(p.actions).toEqual([]);
    expect(p.restarts).toEqual([{ vm: 'web-0', message: 'not live-migratable (DisksNotLiveMigratable): restart to repair placement, pendingLiveUpdate' }]);
    expect(p.reports[0]).toMatchObject({ remedy: 'Restart', note: 'not live-migratable (DisksNotLiveMigratable): restarted instead' });
    const closed = remediate(vms, { spec: spec({ fallback: 'Restart' }), restartsAllowed: false });
    expect(closed.restarts).toEqual([]);
    expect(closed.reports[0]).toMatchObject({ remedy: 'Restart', note: 'not live-migratable (DisksNotLiveMigratable): the restart waits for the disruption window' });
  });

  it('uses the fallback for every drifted VM when live migration is disabled, which is not being non-migratable', () => {
    const p = remediate([vm(0, { drift: [placement()] })], { spec: spec({ migrationEnabled: false, fallback: 'Restart' }) });
    expect(p.actions).toEqual([]);
    expect(p.notMigratable).toEqual([]);
    expect(p.restarts).toEqual([{ vm: 'web-0', message: 'live migration is disabled for this fleet: restart to repair placement' }]);
    expect(remediate([vm(0, { liveMigratable: { status: false }, drift: [pending] })]).reports[0]!.note).toBe('not live-migratable (LiveMigratable is not True): reported only (fallback None)');
  });

  it('neither restarts nor migrates a non-migratable VM with a migration in flight', () => {
    const p = remediate([vm(0, { drift: [placement()], liveMigratable: stuck, migrations: [theirs('evac')] })], { spec: spec({ fallback: 'Restart' }) });
    expect(p.restarts).toEqual([]);
    expect(p.actions).toEqual([]);
  });

  it('reverts hand edits, or only reports them', () => {
    const p = remediate([vm(2, { drift: [manual] })]);
    expect(p.actions).toEqual([{ type: 'Revert', vm: 'web-2', index: 2, message: 'edited by hand: cpu' }]);
    expect(p.reports).toEqual([{ vm: 'web-2', drift: [manual], remedy: 'Revert', note: 'the template is re-applied' }]);
    const report = remediate([vm(2, { drift: [manual] })], { spec: spec({ manualEdits: 'Report' }) });
    expect(report.actions).toEqual([]);
    expect(report.reports).toEqual([{ vm: 'web-2', drift: [manual], remedy: 'Report', note: 'reported only (manualEdits: Report)' }]);
  });

  it('reverts a hand edit and migrates a VM that also drifts at run time', () => {
    const p = remediate([vm(0, { drift: [placement(), manual] })]);
    expect(summary(p)).toEqual(['Revert web-0', 'Migrate web-0 web-0-migrate-1']);
    expect(p.reports).toHaveLength(1);
    expect(p.reports[0]!.remedy).toBe('LiveMigration');
  });

  it('leaves a VM the rollout disrupts alone: no migration, restart, revert or report', () => {
    const p = remediate([vm(0, { disrupted: true, drift: [placement(), manual] }), vm(1, { disrupted: true, drift: [pending], liveMigratable: stuck })], { spec: spec({ fallback: 'Restart' }) });
    expect(p).toEqual({ actions: [], restarts: [], reports: [], migrating: [], notMigratable: [], waitingForBudget: 0, standby: [] });
  });
});

// ---- Properties over random fleets. ----

const kindsArb = fc.subarray(['placement', 'pendingLiveUpdate', 'manualEdit', 'imbalance'] as DriftKind[]);
const driftOf = (kinds: DriftKind[], detail: string): Drift[] =>
  kinds.map((kind) => (kind === 'placement' ? placement(detail) : kind === 'pendingLiveUpdate' ? pending : kind === 'manualEdit' ? manual : imbalance));
const migrationArb = fc.record({
  ours: fc.boolean(),
  attempt: fc.integer({ min: 1, max: 6 }),
  phase: fc.constantFrom('', 'Pending', 'Running', 'Succeeded', 'Failed', 'Failed'),
  reason: fc.constantFrom<DriftKind>('placement', 'pendingLiveUpdate', 'imbalance'),
  age: fc.integer({ min: 0, max: 60 * MIN }),
  finishedAgo: fc.option(fc.integer({ min: 0, max: 10 * MIN }), { nil: undefined }),
  deleting: fc.boolean(),
});
const vmArb = fc.record({
  kinds: kindsArb,
  detail: fc.constantFrom('DrainTaint', 'Unschedulable', 'Taint', 'NodeSelector', 'NodeAffinity'),
  migratable: fc.boolean(),
  migrations: fc.uniqueArray(migrationArb, { selector: (m) => `${m.ours}/${m.attempt}`, maxLength: 3 }),
  stateInFlight: fc.constantFrom(false, false, false, true),
  disrupted: fc.constantFrom(false, false, true),
});
const fleetArb = fc.array(vmArb, { maxLength: 10 }).map((rows) =>
  rows.map((r, i) =>
    vm(i, {
      drift: driftOf(r.kinds, r.detail),
      liveMigratable: { status: r.migratable },
      migrations: r.migrations.map((m, k) => {
        const final = m.phase === 'Succeeded' || m.phase === 'Failed';
        const base = { phase: m.phase, createdAt: NOW - m.age, deleting: m.deleting, ...(final && m.finishedAgo !== undefined ? { finishedAt: NOW - Math.min(m.finishedAgo, m.age) } : {}) };
        return m.ours ? ours(i, m.attempt, { ...base, reason: m.reason }) : theirs(`kubevirt-evacuation-${i}-${k}`, base);
      }),
      migrationStateInFlight: r.stateInFlight,
      disrupted: r.disrupted,
    }),
  ),
);
const specArb = fc.record({
  migrationEnabled: fc.constantFrom(true, true, false),
  maxConcurrent: fc.integer({ min: 1, max: 4 }),
  timeoutMs: fc.constantFrom(5 * MIN, 30 * MIN),
  fallback: fc.constantFrom<RemediationSpec['fallback']>('Restart', 'None'),
  manualEdits: fc.constantFrom<RemediationSpec['manualEdits']>('Revert', 'Report'),
});
const inputArb = fc.record({ spec: specArb, vms: fleetArb, clusterSlots: fc.integer({ min: -1, max: 6 }), restartsAllowed: fc.boolean() });

describe('planRemediation: properties', () => {
  it('is deterministic, and never migrates and restarts one VM, nor remedies a VM the rollout disrupts', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const p = remediate(input.vms, input);
        expect(remediate(structuredClone(input.vms), structuredClone(input))).toEqual(p);
        const migrated = p.actions.filter((a) => a.type === 'Migrate').map((a) => a.vm);
        const restarted = p.restarts.map((r) => r.vm);
        expect(migrated.filter((n) => restarted.includes(n))).toEqual([]);
        for (const v of input.vms.filter((x) => x.disrupted)) {
          expect(p.actions.filter((a) => a.vm === v.name && a.type !== 'Abort')).toEqual([]);
          expect(restarted).not.toContain(v.name);
          expect(p.reports.map((r) => r.vm)).not.toContain(v.name);
        }
        if (!input.restartsAllowed || input.spec.fallback === 'None') expect(restarted).toEqual([]);
        if (p.nextCheckAt !== undefined) expect(p.nextCheckAt).toBeGreaterThan(NOW);
      }),
      { numRuns: 2000 },
    );
  });

  it('reports each drifted VM the rollout leaves alone exactly once, and only drifted VMs', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const p = remediate(input.vms, input);
        const expected = input.vms.filter((v) => v.drift.length > 0 && !v.disrupted).map((v) => v.name);
        expect(p.reports.map((r) => r.vm)).toEqual(expected);
        expect(p.migrating).toEqual(input.vms.filter((v) => v.migrationStateInFlight || v.migrations.some(isInFlight)).map((v) => v.name));
        const reverted = p.actions.filter((a) => a.type === 'Revert').map((a) => a.vm);
        expect(reverted).toEqual(input.spec.manualEdits === 'Revert' ? input.vms.filter((v) => !v.disrupted && v.drift.some((d) => d.kind === 'manualEdit')).map((v) => v.name) : []);
      }),
      { numRuns: 1000 },
    );
  });

  it('aborts exactly our in-flight migrations past the timeout that are not being deleted yet', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const p = remediate(input.vms, input);
        const expected = input.vms.flatMap((v) => v.migrations.filter((m) => m.ours && isInFlight(m) && !m.deleting && NOW >= m.createdAt + input.spec.timeoutMs).map((m) => m.name));
        expect(p.actions.filter((a) => a.type === 'Abort').map((a) => a.name)).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('a smaller budget starts a prefix of the migrations a larger one starts, and stands the next ones by', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const unlimited = remediate(input.vms, { ...input, spec: { ...input.spec, maxConcurrent: 100 }, clusterSlots: 100 });
        expect(unlimited.waitingForBudget).toBe(0);
        const all = unlimited.actions.filter((a) => a.type === 'Migrate');
        const p = remediate(input.vms, input);
        const some = p.actions.filter((a) => a.type === 'Migrate');
        expect(some).toEqual(all.slice(0, some.length));
        expect(some.length + p.waitingForBudget).toBe(all.length);
        // Those held back stand by in the order they would get slots, as the actions they would be.
        expect(p.standby).toEqual(all.slice(some.length, some.length + input.spec.maxConcurrent));
        const fleetInFlight = input.vms.filter((v) => v.migrationStateInFlight || v.migrations.some(isInFlight)).length;
        expect(some.length).toBe(Math.min(all.length, Math.max(0, Math.min(input.spec.maxConcurrent - fleetInFlight, input.clusterSlots))));
      }),
      { numRuns: 1000 },
    );
  });

  it('migrates only drifted, migratable VMs with nothing in flight, under the next attempt of ours', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const p = remediate(input.vms, input);
        for (const a of p.actions) {
          if (a.type !== 'Migrate') continue;
          const v = input.vms.find((x) => x.name === a.vm)!;
          expect(input.spec.migrationEnabled && v.liveMigratable.status && !v.disrupted && !v.migrationStateInFlight).toBe(true);
          expect(v.migrations.some(isInFlight)).toBe(false);
          expect(v.drift.some((d) => d.kind === a.reason)).toBe(true);
          expect(a.reason).not.toBe('manualEdit');
          const highest = Math.max(0, ...v.migrations.filter((m) => m.ours).map((m) => m.attempt));
          expect(a.attempt).toBe(highest + 1);
          expect(a.name).toBe(migrationName(v.name, a.attempt));
          expect(v.migrations.map((m) => m.name)).not.toContain(a.name);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
