// The simulated migration controller (KubeVirt pkg/virt-controller/watch/migration): admits a
// VirtualMachineInstanceMigration, holds it Pending under the cluster and per-node limits, picks
// a target under the VMI's current constraints, walks the phases, moves the VMI, and fails,
// stalls or aborts as configured or asked. Finished migrations beyond the newest five per VMI
// are garbage-collected.
import type { V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { RESOURCES } from '../../controller/kube/resources.ts';
import type { SimContext } from '../context.ts';
import { admitMigration, isFinalMigrationPhase, migrationDurationMs, migrationsToGarbageCollect, migrationsToStart } from '../rules/migrations.ts';
import { vmiRequests } from '../rules/resources.ts';
import { chooseNode } from '../rules/scheduler.ts';
import { isFinished } from '../vmi/lifecycle.ts';
import { schedulableNodes } from '../vmi/controller.ts';
import { splitKey } from '../../controller/runtime/keys.ts';
import { isoSeconds, phaseEnteredAt } from '../phases.ts';

type Migration = V1VirtualMachineInstanceMigration;
type MigrationStatus = NonNullable<Migration['status']>;
type MigrationState = NonNullable<NonNullable<V1VirtualMachineInstance['status']>['migrationState']>;

/** KubeVirt's migration finalizer: an in-flight migration is aborted before it goes. */
export const MIGRATION_FINALIZER = 'kubevirt.io/migrationJobFinalize';
export const VMI_NAME_LABEL = 'kubevirt.io/vmi-name';
const IN_FLIGHT = ['Scheduling', 'Scheduled', 'PreparingTarget', 'TargetReady', 'Running'];
const RETRY_SIM_MS = 5_000;
/** migrationState fields a finished migration leaves behind. */
const PREVIOUS_MIGRATION_FIELDS = ['startTimestamp', 'endTimestamp', 'completed', 'failed', 'abortRequested', 'abortStatus', 'failureReason'];

const iso = isoSeconds;
const enteredAt = (m: Migration, phase: string): number | undefined => phaseEnteredAt(m.status?.phaseTransitionTimestamps, phase);

export async function reconcileMigration(ctx: SimContext, key: string): Promise<void> {
  const { namespace, name } = splitKey(key);
  const m = ctx.world.migrations.get(namespace, name);
  if (!m) return;
  const vmiName = m.spec?.vmiName ?? '';
  const vmiKey = `${namespace}/${vmiName}`;
  const vmi = ctx.world.vmis.get(namespace, vmiName);
  const phase = m.status?.phase ?? '';
  const state = vmi?.status?.migrationState?.migrationUid === m.metadata?.uid ? vmi?.status?.migrationState : undefined;
  const now = ctx.clock.now();

  const setPhase = async (next: string, extra: Partial<MigrationStatus> = {}): Promise<void> => {
    const status: MigrationStatus = {
      ...extra,
      phase: next as MigrationStatus['phase'],
      phaseTransitionTimestamps: [...(m.status?.phaseTransitionTimestamps ?? []), { phase: next as MigrationStatus['phase'], phaseTransitionTimestamp: iso(now) }],
    };
    await ctx.client.mergePatch(RESOURCES.vmim, { namespace, name }, { metadata: { resourceVersion: m.metadata?.resourceVersion }, status }, 'status');
    if (isFinalMigrationPhase(next)) {
      ctx.usage.unassume(vmiKey);
      for (const other of ctx.world.migrations.list()) if ((other.status?.phase ?? '') === 'Pending') ctx.enqueue('migration', `${other.metadata?.namespace}/${other.metadata?.name}`);
    }
  };
  // Every VMI write is conditional on the VMI read, as KubeVirt's are: written from a cache that
  // lags (an informer still reconnecting after an API server restart), a blind patch would mark
  // the migration completed while leaving nodeName where the stale copy had it.
  const patchState = (patch: Partial<MigrationState>, extra: Record<string, unknown> = {}): Promise<unknown> =>
    ctx.client.mergePatch(RESOURCES.vmi, { namespace, name: vmiName }, { metadata: { resourceVersion: vmi?.metadata?.resourceVersion }, status: { ...extra, migrationState: { ...state, ...patch } } });

  if (m.metadata?.deletionTimestamp) {
    // Deleting an in-flight migration aborts it; the VMI stays on its source.
    if (!isFinalMigrationPhase(phase) && state && !state.completed) {
      await patchState({ abortRequested: true, abortStatus: 'Succeeded', completed: true, failed: true, endTimestamp: iso(now), failureReason: 'Migration aborted' });
      ctx.usage.unassume(vmiKey);
    }
    return removeFinalizer(ctx, m);
  }

  if (isFinalMigrationPhase(phase)) {
    if (m.metadata?.finalizers?.includes(MIGRATION_FINALIZER)) {
      // KubeVirt keeps the VMI's final state of the migration on it as it finalizes it (the update requeues it).
      if (state?.completed && !m.status?.migrationState) {
        await ctx.client.mergePatch(RESOURCES.vmim, { namespace, name }, { metadata: { resourceVersion: m.metadata?.resourceVersion }, status: { migrationState: state } }, 'status');
        return;
      }
      return removeFinalizer(ctx, m);
    }
    const gone = migrationsToGarbageCollect(ctx.world.migrationsOf(namespace!, vmiName));
    for (const victim of gone) await ctx.client.delete(RESOURCES.vmim, { namespace, name: victim });
    return;
  }

  if (phase !== '' && phase !== 'Pending' && (!vmi || isFinished(vmi) || vmi.metadata?.deletionTimestamp)) {
    return setPhase('Failed', { conditions: [{ type: 'Failed', status: 'True', reason: 'VMINotRunning', message: `VMI ${vmiName} stopped during the migration` }] as never });
  }

  switch (phase) {
    case '': {
      // virt-api's admission webhook refuses these at create; checking again covers clusters without it.
      const verdict = admitMigration(vmi, ctx.world.migrations.list(namespace).filter((o) => o.metadata?.uid !== m.metadata?.uid));
      if (!verdict.allowed) return setPhase('Failed', { conditions: [{ type: 'Failed', status: 'True', reason: 'Refused', message: verdict.message }] as never });
      if (!m.metadata?.finalizers?.includes(MIGRATION_FINALIZER) || m.metadata?.labels?.[VMI_NAME_LABEL] !== vmiName) {
        await ctx.client.mergePatch(RESOURCES.vmim, { namespace, name }, {
          metadata: { resourceVersion: m.metadata?.resourceVersion, finalizers: [...(m.metadata?.finalizers ?? []), MIGRATION_FINALIZER], labels: { [VMI_NAME_LABEL]: vmiName } },
        });
        return;
      }
      return setPhase('Pending');
    }
    case 'Pending': {
      const all = ctx.world.migrations.list();
      const keyOfMigration = (o: Migration): string => `${o.metadata?.namespace}/${o.metadata?.name}`;
      // Starts decided a moment ago count as running until the cache shows them.
      for (const started of ctx.startedMigrations) {
        const { namespace: ns, name: n } = splitKey(started);
        if ((ctx.world.migrations.get(ns, n)?.status?.phase ?? 'Pending') !== 'Pending') ctx.startedMigrations.delete(started);
      }
      const describe = (o: Migration) => ({
        name: keyOfMigration(o),
        sourceNode: ctx.world.vmis.get(o.metadata?.namespace, o.spec?.vmiName ?? '')?.status?.nodeName ?? '',
        createdAt: String(o.metadata?.creationTimestamp ?? ''),
      });
      const pending = all.filter((o) => o.status?.phase === 'Pending' && !ctx.startedMigrations.has(keyOfMigration(o))).map(describe);
      const running = all.filter((o) => IN_FLIGHT.includes(o.status?.phase ?? '') || ctx.startedMigrations.has(keyOfMigration(o))).map(describe);
      if (!migrationsToStart(pending, running, ctx.config.migration).includes(key)) return; // a finishing migration requeues every Pending one
      ctx.startedMigrations.add(key);
      try {
        return await setPhase('Scheduling');
      } catch (err) {
        ctx.startedMigrations.delete(key);
        throw err;
      }
    }
    case 'Scheduling': {
      // The target is chosen once: a VMI whose state of this migration names a target node was
      // scheduled by an earlier pass, whose phase write the migration cache has not shown yet (or
      // which failed). Choosing again would move the target under a migration already Scheduled.
      if (state?.targetNode) return setPhase('Scheduled');
      const source = vmi!.status?.nodeName ?? '';
      const requests = vmiRequests(vmi!.spec);
      const decision = chooseNode({
        spec: vmi!.spec,
        requests,
        nodes: schedulableNodes(ctx),
        usage: ctx.usage.perNode(),
        exclude: [source],
        addedNodeSelector: m.spec?.addedNodeSelector,
      });
      if ('unschedulable' in decision) {
        const waited = ctx.clock.simSince(enteredAt(m, 'Scheduling'));
        if (waited >= ctx.config.migration.unschedulableTimeoutMs) {
          return setPhase('Failed', { conditions: [{ type: 'Failed', status: 'True', reason: 'TargetPodUnschedulable', message: decision.unschedulable }] as never });
        }
        return ctx.enqueue('migration', key, ctx.clock.real(RETRY_SIM_MS));
      }
      ctx.usage.assume(vmiKey, decision.node, requests);
      try {
        // A new migration's state replaces the previous one's: merge patch clears its leftovers.
        await ctx.client.mergePatch(RESOURCES.vmi, { namespace, name: vmiName }, {
          metadata: { resourceVersion: vmi!.metadata?.resourceVersion },
          status: {
            migrationState: {
              ...Object.fromEntries(PREVIOUS_MIGRATION_FIELDS.map((f) => [f, null])),
              migrationUid: m.metadata?.uid,
              sourceNode: source,
              targetNode: decision.node,
              targetPod: `virt-launcher-${vmiName}-${(m.metadata?.uid ?? '').slice(0, 5)}`,
              mode: 'PreCopy',
            },
          },
        });
      } catch (err) {
        ctx.usage.unassume(vmiKey);
        throw err;
      }
      return setPhase('Scheduled');
    }
    case 'Scheduled':
    case 'PreparingTarget':
    case 'TargetReady': {
      const wait = ctx.clock.remaining(enteredAt(m, phase), ctx.config.migration.phaseMs);
      if (wait > 0) return ctx.enqueue('migration', key, wait);
      const next = phase === 'Scheduled' ? 'PreparingTarget' : phase === 'PreparingTarget' ? 'TargetReady' : 'Running';
      if (next === 'Running') await patchState({ startTimestamp: iso(now) });
      return setPhase(next);
    }
    case 'Running':
      return finishRunning(ctx, m, key, vmi!, state, now, setPhase, patchState);
    default:
      return;
  }
}

async function finishRunning(
  ctx: SimContext,
  m: Migration,
  key: string,
  vmi: V1VirtualMachineInstance,
  state: MigrationState | undefined,
  now: number,
  setPhase: (next: string, extra?: Partial<MigrationStatus>) => Promise<void>,
  patchState: (patch: Partial<MigrationState>, extra?: Record<string, unknown>) => Promise<unknown>,
): Promise<void> {
  if (state?.completed) return setPhase(state.failed ? 'Failed' : 'Succeeded');
  const cfg = ctx.config.migration;
  // Keyed by the migration name alone, so a seed gives the same outcomes in any namespace.
  const stalls = ctx.chance.chance(cfg.stallProbability, `stall/${m.metadata?.name}`);
  const fails = ctx.chance.chance(cfg.failureProbability, `fail/${m.metadata?.name}`) || cfg.failingNodes.includes(state?.sourceNode ?? '') || cfg.failingNodes.includes(state?.targetNode ?? '');
  const duration = stalls ? cfg.progressTimeoutMs : migrationDurationMs(vmiRequests(vmi.spec).memoryBytes, cfg.msPerGiB);
  const wait = ctx.clock.remaining(state?.startTimestamp ?? enteredAt(m, 'Running'), duration);
  if (wait > 0) return ctx.enqueue('migration', key, wait);
  if (stalls || fails) {
    const reason = stalls ? `migration made no progress for ${cfg.progressTimeoutMs / 1000}s (progressTimeout)` : 'live migration failed (injected)';
    await patchState({ completed: true, failed: true, endTimestamp: iso(now), failureReason: reason });
    return setPhase('Failed', { conditions: [{ type: 'Failed', status: 'True', reason: stalls ? 'ProgressTimeout' : 'MigrationFailed', message: reason }] as never });
  }
  // The guest now runs on the target; pending hotplug is realised by the move.
  const conditions = (vmi.status?.conditions ?? []).filter((c) => !['HotVCPUChange', 'HotMemoryChange', 'MigrationRequired'].includes(c.type));
  await patchState({ completed: true, endTimestamp: iso(now) }, { nodeName: state?.targetNode, conditions });
  return setPhase('Succeeded');
}

async function removeFinalizer(ctx: SimContext, m: Migration): Promise<void> {
  const finalizers = m.metadata?.finalizers ?? [];
  if (!finalizers.includes(MIGRATION_FINALIZER)) return;
  await ctx.client.jsonPatch(RESOURCES.vmim, { namespace: m.metadata?.namespace, name: m.metadata!.name! }, [
    { op: 'test', path: '/metadata/resourceVersion', value: m.metadata?.resourceVersion },
    { op: 'replace', path: '/metadata/finalizers', value: finalizers.filter((f) => f !== MIGRATION_FINALIZER) },
  ]);
}
