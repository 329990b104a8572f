// The simulated virt-controller/virt-handler for VMIs: adds KubeVirt's finalizer, advances the
// phase machine (lifecycle.ts), places VMIs with the scheduler, keeps LiveMigratable current,
// and on deletion lingers for the configured shutdown time before the finalizer goes.
import type { V1Node, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { isNodeReady } from '../../controller/core/placement.ts';
import { RESOURCES } from '../../controller/kube/resources.ts';
import type { SimContext } from '../context.ts';
import { liveMigratableCondition } from '../rules/live-migratable.ts';
import { vmiRequests } from '../rules/resources.ts';
import { chooseNode } from '../rules/scheduler.ts';
import { POOL_LABEL } from '../nodes.ts';
import { splitKey } from '../../controller/runtime/keys.ts';
import { bootSources, brokenSource, FAILING_IMAGES_KEY, SIM_CONFIGMAP } from './failing-images.ts';
import { advance, isFinished } from './lifecycle.ts';
import { changedBy } from '../merge-patch.ts';

/** KubeVirt's VMI finalizer (v1.VirtualMachineInstanceFinalizer). */
export const VMI_FINALIZER = 'foregroundDeleteVirtualMachine';
/** A template annotation that makes every start of the VMI fail, for failure-injection tests. */
export const FAIL_START_ANNOTATION = 'sim.virtfleet.io/fail-start';
/** How often an unschedulable VMI is retried even without a node event (simulated ms). */
const UNSCHEDULABLE_RETRY_SIM_MS = 5_000;

export function schedulableNodes(ctx: SimContext): V1Node[] {
  const nodes = ctx.world.nodes.list();
  if (ctx.config.nodes.count === 0) return nodes;
  return nodes.filter((n) => n.metadata?.labels?.[POOL_LABEL] === ctx.config.nodes.prefix);
}

/** The PVCs behind a VMI's persistentVolumeClaim and dataVolume volumes, by claim name. */
export function claimsOf(ctx: SimContext, vmi: V1VirtualMachineInstance): Map<string, V1PersistentVolumeClaim> {
  const claims = new Map<string, V1PersistentVolumeClaim>();
  for (const v of vmi.spec?.volumes ?? []) {
    const name = v.persistentVolumeClaim?.claimName ?? v.dataVolume?.name;
    const pvc = name ? ctx.world.pvcs.get(vmi.metadata?.namespace, name) : undefined;
    if (name && pvc) claims.set(name, pvc);
  }
  return claims;
}

export async function reconcileVMI(ctx: SimContext, key: string): Promise<void> {
  const { namespace, name } = splitKey(key);
  const vmi = ctx.world.vmis.get(namespace, name);
  if (!vmi) return;
  const finalizers = vmi.metadata?.finalizers ?? [];

  if (vmi.metadata?.deletionTimestamp) {
    if (!finalizers.includes(VMI_FINALIZER)) return;
    // virt-handler shuts the domain down before the finalizer goes.
    const wait = ctx.clock.remaining(vmi.metadata.deletionTimestamp as unknown as string, ctx.config.vmi.stoppingMs);
    if (wait > 0) return ctx.enqueue('vmi', key, wait);
    await ctx.client.jsonPatch(RESOURCES.vmi, { namespace, name }, [
      { op: 'test', path: '/metadata/resourceVersion', value: vmi.metadata.resourceVersion },
      { op: 'replace', path: '/metadata/finalizers', value: finalizers.filter((f) => f !== VMI_FINALIZER) },
    ]);
    return;
  }
  if (isFinished(vmi)) return;

  const requests = vmiRequests(vmi.spec);
  const nodeName = vmi.status?.nodeName;
  const node = nodeName ? ctx.world.nodes.get(undefined, nodeName) : undefined;
  let assumed = false;
  const lm = liveMigratableCondition(vmi.spec, claimsOf(ctx, vmi));
  const startFailure = await startFailureOf(ctx, vmi, key);
  const step = advance(vmi, {
    now: ctx.clock.now(),
    speed: ctx.clock.speed,
    delays: ctx.config.vmi,
    schedule: () => {
      const decision = chooseNode({ spec: vmi.spec, requests, nodes: schedulableNodes(ctx), usage: ctx.usage.perNode() });
      if ('node' in decision) {
        ctx.usage.assume(key, decision.node, requests);
        assumed = true;
      }
      return decision;
    },
    nodeReady: nodeName ? (node ? isNodeReady(node) : false) : undefined,
    ...(startFailure !== undefined ? { startFailure } : {}),
    liveMigratable: { type: 'LiveMigratable', ...lm },
  });

  const needsFinalizer = !finalizers.includes(VMI_FINALIZER);
  // Written only when the patch would change what is stored (see changedBy): each write of a VMI
  // costs the API server and every watcher, and KubeVirt's controllers skip the unchanged ones too.
  if (needsFinalizer || changedBy(vmi.status ?? {}, step.status)) {
    const patch = {
      metadata: { resourceVersion: vmi.metadata?.resourceVersion, ...(needsFinalizer ? { finalizers: [...finalizers, VMI_FINALIZER] } : {}) },
      status: step.status,
    };
    try {
      // The VMI CRD has no status subresource: status is written with the object, guarded by resourceVersion.
      await ctx.client.mergePatch(RESOURCES.vmi, { namespace, name }, patch);
    } catch (err) {
      if (assumed) ctx.usage.unassume(key);
      throw err;
    }
  }
  if (step.wakeInMs !== undefined) ctx.enqueue('vmi', key, step.wakeInMs);
  else if (step.status.phase === 'Scheduling') ctx.enqueue('vmi', key, ctx.clock.real(UNSCHEDULABLE_RETRY_SIM_MS));
}

/** Why the VMI's start fails (annotation, seeded chance, or an image in failingImages), if it does. */
async function startFailureOf(ctx: SimContext, vmi: V1VirtualMachineInstance, key: string): Promise<string | undefined> {
  if (vmi.metadata?.annotations?.[FAIL_START_ANNOTATION] === 'true' || ctx.chance.chance(ctx.config.vmi.startFailureProbability, `start/${key}/${vmi.metadata?.uid}`)) return 'injected';
  // Only a VMI still starting can fail to start: a running one needs no read.
  if (vmi.status?.phase === 'Running') return undefined;
  const broken = brokenSource(bootSources(vmi, ctx.world.vms.get(vmi.metadata?.namespace, vmi.metadata?.name ?? '')), await ctx.failingImages.current());
  return broken ? `the guest in ${broken.source} does not boot: "${broken.entry}" is in ${FAILING_IMAGES_KEY} of ConfigMap ${SIM_CONFIGMAP.namespace}/${SIM_CONFIGMAP.name}` : undefined;
}
