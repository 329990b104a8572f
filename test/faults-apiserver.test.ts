// kube-apiserver SIGKILLed and started again on the same etcd mid-rollout while the controller (a
// process) keeps running (issue 16). On a control plane of this file's own (so the other test
// files, which share the run's control plane, never see the outage). Checked: the rollout
// converges with every VM kept (same uids) and the invariants hold at every sample the checker
// could take.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { VMFleetStatus } from '../controller/api/generated/types.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { startRunProcess, type ControllerProcess } from './harness/controller-process.ts';
import { checkInvariants } from './harness/invariants.ts';
import { settle, startOwnControlPlane, type OwnControlPlane } from './harness/own-control-plane.ts';

const NS = 'restarts';
const REPLICAS = 6;
let c: OwnControlPlane;
let controller: ControllerProcess;

beforeAll(async () => {
  c = await startOwnControlPlane({ namespaces: [NS], nodes: 4 });
  controller = startRunProcess(['--kubeconfig', c.plane.kubeconfigPath, '-n', NS, '--migration-budget-scope', 'namespace'], { ...process.env, VIRTFLEET_WATCH_SILENCE_TIMEOUT_MS: '5000' });
}, 120_000);
afterAll(async () => {
  await controller?.kill('SIGKILL');
  await c?.stop();
});

const rolledOut = (s: VMFleetStatus | undefined) => !!s && s.replicas === REPLICAS && s.readyReplicas === REPLICAS && s.updatedReplicas === REPLICAS && s.currentRevision === s.updateRevision;
const uidsOf = async () => new Map((await c.fleetVMs(NS, 'web')).map((vm) => [vm.metadata!.name!, vm.metadata!.uid!]));
const describe = async () => `status: ${JSON.stringify(await c.fleetStatus(NS, 'web'))}`;

it('converges through a SIGKILLed kube-apiserver mid-rollout, keeping every VM', async () => {
  await c.client.create(RESOURCES.vmFleet, vmFleet(NS, 'web', { replicas: REPLICAS, version: 'v1', updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } } }));
  await settle('ready on v1', async () => rolledOut(await c.fleetStatus(NS, 'web')), 80_000, controller, describe);
  const uids = await uidsOf();
  const checker = await checkInvariants({ kubeConfig: c.plane.kubeConfig(), namespace: NS, fleets: [{ name: 'web', replicas: REPLICAS, maxUnavailable: 2, maxConcurrent: 2 }], migrationBudget: 5 });
  try {
    const before = (await c.fleetStatus(NS, 'web'))?.updateRevision;
    await c.client.mergePatch(RESOURCES.vmFleet, { namespace: NS, name: 'web' }, { spec: { image: { version: 'v2' } } });
    // Under way once the controller rolls to the new revision: a VM off the old one, or a VM down.
    // (Polling for a VM that is not ready alone misses restarts shorter than the poll.)
    await settle('the rollout under way', async () => {
      const now = await c.fleetStatus(NS, 'web');
      return now?.updateRevision !== before && ((now?.updatedReplicas ?? 0) > 0 || (await c.fleetVMs(NS, 'web')).some((vm) => vm.status?.ready !== true));
    }, 80_000, controller, describe);
    const killedAt = Date.now();
    await c.plane.restart('kube-apiserver');
    console.log(`kube-apiserver back after ${Date.now() - killedAt} ms`);
    await settle('rolled out to v2', async () => {
      const s = await c.fleetStatus(NS, 'web');
      return rolledOut(s) && s?.imageVersion === 'v2';
    }, 80_000, controller, describe);

    expect(await uidsOf()).toEqual(uids);
    console.log(`restarts: ${checker.samples()} samples, ${checker.relists()} checker relists`);
    expect(checker.violations()).toEqual([]);
    expect(controller.child.exitCode).toBeNull();
  } finally {
    checker.stop();
  }
}, 170_000);
