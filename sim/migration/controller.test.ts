import { describe, expect, it } from '@jest/globals';
import type { V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { KubeClient } from '../../controller/kube/client.ts';
import { SimClock } from '../clock.ts';
import { defaultSimConfig } from '../config.ts';
import type { SimContext } from '../context.ts';
import { SeededChance } from '../random.ts';
import { Usage } from '../usage.ts';
import type { World } from '../world.ts';
import { applyMergePatch } from '../merge-patch.ts';
import { POOL_LABEL } from '../nodes.ts';
import { MIGRATION_FINALIZER, reconcileMigration } from './controller.ts';

type Obj = { metadata?: { name?: string; resourceVersion?: string } & Record<string, unknown> } & Record<string, unknown>;

/**
 * An API server of a few objects by name: merge patches honour metadata.resourceVersion as a
 * precondition (409 otherwise) and bump it. The simulator reads `cached`, a copy that may lag.
 */
function fakeCluster(objects: Obj[]) {
  const server = new Map(objects.map((o) => [o.metadata!.name!, structuredClone(o)]));
  const cached = new Map(objects.map((o) => [o.metadata!.name!, structuredClone(o)]));
  let rv = 100;
  const mergePatch = async (_res: unknown, ref: { name: string }, patch: Obj): Promise<Obj> => {
    const current = server.get(ref.name);
    if (!current) throw Object.assign(new Error('not found'), { status: 404 });
    const precondition = patch.metadata?.resourceVersion;
    if (precondition !== undefined && precondition !== current.metadata?.resourceVersion) throw Object.assign(new Error('conflict'), { status: 409 });
    const next = applyMergePatch(current, patch) as Obj;
    next.metadata = { ...next.metadata, resourceVersion: String(++rv) };
    server.set(ref.name, next);
    return next;
  };
  const jsonPatch = async (): Promise<Obj> => ({});
  const store = <T>() => ({ get: (_ns: string | undefined, name: string) => cached.get(name) as T | undefined, list: () => [...cached.values()] as T[] });
  const nodes: Obj[] = [];
  const world = { vmis: store<V1VirtualMachineInstance>(), migrations: store<V1VirtualMachineInstanceMigration>(), nodes: { list: () => nodes, get: (_ns: string | undefined, name: string) => nodes.find((n) => n.metadata?.name === name) }, migrationsOf: () => [] };
  const ctx: SimContext = {
    client: { mergePatch, jsonPatch, delete: async () => undefined } as unknown as KubeClient,
    world: world as unknown as World,
    clock: new SimClock(1),
    config: defaultSimConfig(),
    chance: new SeededChance(1),
    usage: new Usage(),
    failingImages: undefined as never,
    startedMigrations: new Set(),
    enqueue: () => undefined,
    log: { info: () => undefined, error: () => undefined },
  };
  return { ctx, server, nodes, catchUp: () => { for (const [name, o] of server) cached.set(name, structuredClone(o)); } };
}

const longAgo = new Date(Date.now() - 3_600_000).toISOString();

describe('reconcileMigration', () => {
  it('never marks a migration Succeeded from a VMI cache that has not seen the migration begin', async () => {
    // The cache still holds the VMI from before the migration was scheduled (its informer is
    // still reconnecting); the API server's VMI names the target of the running migration.
    const vmi: Obj = { metadata: { name: 'wave-0', namespace: 'ns', resourceVersion: '5' }, spec: { domain: { devices: {} } }, status: { phase: 'Running', nodeName: 'old' } };
    const migration: Obj = {
      metadata: { name: 'wave-0-migrate-1', namespace: 'ns', uid: 'm1', resourceVersion: '9', finalizers: [MIGRATION_FINALIZER] },
      spec: { vmiName: 'wave-0' },
      status: { phase: 'Running', phaseTransitionTimestamps: [{ phase: 'Running', phaseTransitionTimestamp: longAgo }] },
    };
    const { ctx, server, catchUp } = fakeCluster([vmi, migration]);
    server.set('wave-0', { ...vmi, metadata: { ...vmi.metadata, resourceVersion: '7' }, status: { ...vmi.status as object, migrationState: { migrationUid: 'm1', sourceNode: 'old', targetNode: 'new', startTimestamp: longAgo } } });

    await expect(reconcileMigration(ctx, 'ns/wave-0-migrate-1')).rejects.toMatchObject({ status: 409 });
    expect(server.get('wave-0')).toMatchObject({ status: { nodeName: 'old', migrationState: { migrationUid: 'm1' } } });
    expect((server.get('wave-0') as { status: { migrationState: { completed?: boolean } } }).status.migrationState.completed).toBeUndefined();
    expect(server.get('wave-0-migrate-1')).toMatchObject({ status: { phase: 'Running' } });

    // Once the cache shows the VMI as it is, the guest moves and then the migration succeeds.
    catchUp();
    await reconcileMigration(ctx, 'ns/wave-0-migrate-1');
    expect(server.get('wave-0')).toMatchObject({ status: { nodeName: 'new', migrationState: { migrationUid: 'm1', completed: true, targetNode: 'new' } } });
    expect(server.get('wave-0-migrate-1')).toMatchObject({ status: { phase: 'Succeeded' } });
  });

  it('keeps the VMI\'s final migrationState on the finished migration before letting it go', async () => {
    const state = { migrationUid: 'm1', sourceNode: 'old', targetNode: 'new', completed: true };
    const vmi: Obj = { metadata: { name: 'wave-0', namespace: 'ns', resourceVersion: '5' }, spec: { domain: { devices: {} } }, status: { phase: 'Running', nodeName: 'new', migrationState: state } };
    const migration: Obj = { metadata: { name: 'wave-0-migrate-1', namespace: 'ns', uid: 'm1', resourceVersion: '9', finalizers: [MIGRATION_FINALIZER] }, spec: { vmiName: 'wave-0' }, status: { phase: 'Succeeded' } };
    const { ctx, server } = fakeCluster([vmi, migration]);
    await reconcileMigration(ctx, 'ns/wave-0-migrate-1');
    expect(server.get('wave-0-migrate-1')).toMatchObject({ status: { phase: 'Succeeded', migrationState: state } });
  });

  it('chooses the target once: a pass over a migration cache that still says Scheduling keeps the VMI\'s target', async () => {
    const node = (name: string): Obj => ({ metadata: { name, labels: { [POOL_LABEL]: 'node' } }, spec: {}, status: { allocatable: { cpu: '64', memory: '256Gi', pods: '110' }, conditions: [{ type: 'Ready', status: 'True' }] } });
    const vmi: Obj = { metadata: { name: 'wave-0', namespace: 'ns', resourceVersion: '5' }, spec: { domain: { devices: {} } }, status: { phase: 'Running', nodeName: 'a' } };
    const migration: Obj = {
      metadata: { name: 'wave-0-migrate-1', namespace: 'ns', uid: 'm1', resourceVersion: '9', finalizers: [MIGRATION_FINALIZER], labels: { 'kubevirt.io/vmi-name': 'wave-0' } },
      spec: { vmiName: 'wave-0' },
      status: { phase: 'Scheduling', phaseTransitionTimestamps: [{ phase: 'Scheduling', phaseTransitionTimestamp: longAgo }] },
    };
    const { ctx, server, catchUp, nodes } = fakeCluster([vmi, migration]);
    nodes.push(node('a'), node('b'), node('c'));
    await reconcileMigration(ctx, 'ns/wave-0-migrate-1');
    const target = (server.get('wave-0') as { status: { migrationState: { targetNode: string } } }).status.migrationState.targetNode;
    expect(['b', 'c']).toContain(target);
    expect(server.get('wave-0-migrate-1')).toMatchObject({ status: { phase: 'Scheduled' } });
    const vmiWritten = server.get('wave-0')!.metadata!.resourceVersion;

    // The VMI's informer has caught up, the migration's not yet: the pass changes no target.
    const stale = structuredClone(migration);
    catchUp();
    ctx.world.migrations.get = ((_ns: string | undefined, name: string) => (name === 'wave-0-migrate-1' ? stale : undefined)) as never;
    await expect(reconcileMigration(ctx, 'ns/wave-0-migrate-1')).rejects.toMatchObject({ status: 409 });
    expect(server.get('wave-0')!.metadata!.resourceVersion).toBe(vmiWritten);
    expect(server.get('wave-0')).toMatchObject({ status: { migrationState: { targetNode: target } } });
  });
});
