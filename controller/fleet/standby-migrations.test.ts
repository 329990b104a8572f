import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import type { Cache } from '../cache/cache.ts';
import { migrationName, type MigrateAction, type RemediationPlan } from '../core/fleet/migration.ts';
import { FLEET_LABEL } from '../core/fleet/names.ts';
import type { VMFleet } from './reconciler.ts';
import { MigrationBudget, type Migration } from './remediation.ts';
import { StandbyMigrations } from './standby-migrations.ts';

const NS = 'ns';
const KEY = `${NS}/web`;

/** A cache over a map the test edits, as an informer's store changes under the controller. */
function mutableCache<T extends { metadata?: { name?: string; namespace?: string } }>() {
  const objects = new Map<string, T>();
  const id = (name: string, ns?: string) => `${ns ?? ''}/${name}`;
  const cache: Cache<T> = {
    get: (name, ns) => objects.get(id(name, ns)),
    list: (ns) => [...objects.values()].filter((o) => ns === undefined || o.metadata?.namespace === ns),
  };
  const put = (o: T) => void objects.set(id(o.metadata!.name!, o.metadata?.namespace), o);
  const remove = (name: string, ns?: string) => void objects.delete(id(name, ns));
  return { cache, put, remove };
}

const fleetObject = (generation = 1, name = 'web'): VMFleet => ({ metadata: { name, namespace: NS, uid: `uid-${name}`, generation } } as unknown as VMFleet);
const vmObject = (name: string, generation = 1): V1VirtualMachine => ({ metadata: { name, namespace: NS, uid: `uid-${name}`, generation }, spec: { template: {} } });
const vmiObject = (name: string, node: string, fleet = 'web'): V1VirtualMachineInstance => ({ metadata: { name, namespace: NS, labels: { [FLEET_LABEL]: fleet } }, spec: { domain: { devices: {} } }, status: { nodeName: node } });
const nodeObject = (name: string, labels: Record<string, string> = {}): V1Node => ({ metadata: { name, labels } });
const migrationObject = (vmi: string, attempt: number, phase: string, fleet = 'web'): Migration => ({
  metadata: { name: migrationName(vmi, attempt), namespace: NS, labels: { [FLEET_LABEL]: fleet } }, spec: { vmiName: vmi }, status: { phase },
});
const action = (vm: string, attempt = 1): MigrateAction => ({ type: 'Migrate', vm, name: migrationName(vm, attempt), attempt, reason: 'placement', message: 'placement: off the pool' });
const plan = (standby: MigrateAction[], migrating: string[] = []): RemediationPlan => ({ actions: [], restarts: [], reports: [], migrating, notMigratable: [], waitingForBudget: standby.length, standby });

/** A fleet `web` of VMs vm-0..vm-(n-1) on node-0..node-(n-1), the budget's migrations fed as the informer would. */
function world(options: { vms?: number; limit?: number } = {}) {
  const fleets = mutableCache<VMFleet>();
  const vms = mutableCache<V1VirtualMachine>();
  const vmis = mutableCache<V1VirtualMachineInstance>();
  const nodes = mutableCache<V1Node>();
  const migrations = mutableCache<Migration>();
  fleets.put(fleetObject());
  for (let i = 0; i < (options.vms ?? 6); i++) {
    vms.put(vmObject(`vm-${i}`));
    vmis.put(vmiObject(`vm-${i}`, `node-${i}`));
    nodes.put(nodeObject(`node-${i}`));
  }
  const budget = new MigrationBudget(options.limit ?? 2);
  const started: string[] = [];
  let refuse = false;
  const standby = new StandbyMigrations({
    caches: { fleets: fleets.cache, vms: vms.cache, vmis: vmis.cache, nodes: nodes.cache, migrations: migrations.cache },
    budget,
    now: () => 1_000,
    start: async (_key, ns, a) => {
      if (refuse) {
        budget.release(ns, a.name);
        return false;
      }
      started.push(a.name);
      return true;
    },
  });
  /** A migration as the informer reports it: the budget sees it first, then the standby. */
  const migrationEvent = (type: 'add' | 'update' | 'delete', m: Migration) => {
    if (type === 'delete') migrations.remove(m.metadata!.name!, NS);
    else migrations.put(m);
    budget.observe(type, m);
    return standby.onMigration(type, m);
  };
  return { fleets, vms, vmis, nodes, migrations, budget, standby, started, migrationEvent, refuseStarts: () => void (refuse = true) };
}

/** Two of vm-0, vm-1 migrating (the budget of 2 full), vm-2..vm-4 standing by. */
async function full(w: ReturnType<typeof world>, maxConcurrent = 5) {
  await w.migrationEvent('add', migrationObject('vm-0', 1, 'Running'));
  await w.migrationEvent('add', migrationObject('vm-1', 1, 'Running'));
  w.standby.remember(KEY, w.fleets.cache.get('web', NS)!, plan([action('vm-2'), action('vm-3'), action('vm-4')], ['vm-0', 'vm-1']), maxConcurrent);
}

describe('StandbyMigrations', () => {
  it('starts the next standby migration, reserved, the moment a migration ends', async () => {
    const w = world();
    await full(w);
    expect(w.standby.size).toBe(3);
    expect(await w.migrationEvent('update', migrationObject('vm-0', 1, 'Succeeded'))).toEqual([migrationName('vm-2', 1)]);
    expect(w.budget.available(1_000)).toBe(0);
    expect([...w.budget.pendingOf(KEY).keys()]).toEqual(['vm-2']);
    // A deleted migration frees its slot too.
    expect(await w.migrationEvent('delete', migrationObject('vm-1', 1, 'Running'))).toEqual([migrationName('vm-3', 1)]);
    expect(w.standby.size).toBe(1);
  });

  it('does nothing while no migration ends, or while the budget is still full', async () => {
    const w = world();
    await full(w);
    expect(await w.migrationEvent('update', migrationObject('vm-0', 1, 'Scheduling'))).toEqual([]);
    // Another fleet's migration takes a slot over the limit: vm-0's end frees nothing for the standby.
    expect(await w.migrationEvent('add', migrationObject('vm-5', 1, 'Pending', 'other'))).toEqual([]);
    expect(await w.migrationEvent('update', migrationObject('vm-0', 1, 'Failed'))).toEqual([]);
    expect(await w.migrationEvent('update', migrationObject('vm-1', 1, 'Succeeded'))).toEqual([migrationName('vm-2', 1)]);
    expect(w.started).toEqual([migrationName('vm-2', 1)]);
    expect(w.budget.available(1_000)).toBe(0);
  });

  it('keeps to the fleet\'s maxConcurrent, counting reservations and VMIs migrating without an object', async () => {
    const w = world({ limit: 10 });
    await w.migrationEvent('add', migrationObject('vm-0', 1, 'Running'));
    // maxConcurrent 2: vm-0 by its object, vm-1 by its migrationState alone.
    w.standby.remember(KEY, w.fleets.cache.get('web', NS)!, plan([action('vm-2'), action('vm-3')], ['vm-0', 'vm-1']), 2);
    expect(await w.migrationEvent('update', migrationObject('vm-0', 1, 'Succeeded'))).toEqual([migrationName('vm-2', 1)]);
    // vm-1 still migrates (its VMI unchanged) and vm-2 is reserved: the fleet is at 2.
    expect(await w.migrationEvent('update', migrationObject('vm-9', 1, 'Succeeded', 'other'))).toEqual([]);
    // vm-1's VMI changed (its migration is over as far as the plan knew): vm-3 may go.
    w.vmis.put(vmiObject('vm-1', 'node-7'));
    expect(await w.migrationEvent('delete', migrationObject('vm-9', 1, 'Succeeded', 'other'))).toEqual([migrationName('vm-3', 1)]);
  });

  it('leaves to the next reconcile a standby whose VM, VMI or node changed, and skips a VMI already migrating', async () => {
    const w = world({ limit: 2 });
    await full(w);
    w.standby.remember(KEY, w.fleets.cache.get('web', NS)!, plan([action('vm-2'), action('vm-3'), action('vm-4'), action('vm-5')], ['vm-0', 'vm-1']), 10);
    w.vms.put(vmObject('vm-2', 2)); // edited: the plan's judgement may no longer hold
    w.vmis.put(vmiObject('vm-3', 'node-3')); // a new VMI object: it may have moved or restarted
    w.nodes.put(nodeObject('node-4', { pool: 'b' })); // its node's placement changed
    expect(await w.migrationEvent('update', migrationObject('vm-0', 1, 'Succeeded'))).toEqual([migrationName('vm-5', 1)]);
    expect(w.standby.size).toBe(0);
    // A VMI with a migration in flight is never given a second one.
    const w2 = world({ limit: 3 });
    await full(w2);
    await w2.migrationEvent('add', migrationObject('vm-2', 1, 'Running', 'web'));
    expect(await w2.migrationEvent('update', migrationObject('vm-0', 1, 'Succeeded'))).toEqual([migrationName('vm-3', 1)]);
  });

  it('drops the standby of a fleet whose spec changed or that went', async () => {
    const w = world();
    await full(w);
    w.fleets.put(fleetObject(2));
    expect(await w.migrationEvent('update', migrationObject('vm-0', 1, 'Succeeded'))).toEqual([]);
    expect(w.standby.size).toBe(0);
    await full(w);
    w.standby.forget(KEY);
    expect(await w.migrationEvent('update', migrationObject('vm-1', 1, 'Succeeded'))).toEqual([]);
  });

  it('frees the slot again when a start fails, for the next reconcile', async () => {
    const w = world();
    await full(w);
    w.refuseStarts();
    expect(await w.migrationEvent('update', migrationObject('vm-0', 1, 'Succeeded'))).toEqual([]);
    expect(w.budget.available(1_000)).toBe(1);
  });

  it('never takes the cluster budget over its limit nor starts a VM twice, whatever ends in whatever order', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.tuple(fc.nat(5), fc.constantFrom('Succeeded', 'Failed', 'delete')), { maxLength: 12 }),
      async (limit, maxConcurrent, ends) => {
        const w = world({ vms: 12, limit });
        const flying = Array.from({ length: limit }, (_, i) => `vm-${i}`);
        for (const vm of flying) await w.migrationEvent('add', migrationObject(vm, 1, 'Running'));
        const standby = Array.from({ length: 12 - limit }, (_, i) => action(`vm-${limit + i}`));
        w.standby.remember(KEY, w.fleets.cache.get('web', NS)!, plan(standby.slice(0, maxConcurrent), flying), maxConcurrent);
        for (const [i, how] of ends) {
          const m = migrationObject(`vm-${i}`, 1, how === 'delete' ? 'Running' : how);
          await w.migrationEvent(how === 'delete' ? 'delete' : 'update', m);
          const flyingNow = w.migrations.cache.list(NS).filter((x) => !['Succeeded', 'Failed'].includes(x.status?.phase ?? '')).length;
          expect(flyingNow + w.budget.pendingOf(KEY).size).toBeLessThanOrEqual(limit);
        }
        expect(new Set(w.started).size).toBe(w.started.length);
        expect(w.started.every((n) => standby.slice(0, maxConcurrent).some((a) => a.name === n))).toBe(true);
      },
    ), { numRuns: 200 });
  });
});
