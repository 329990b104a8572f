// kube-apiserver SIGKILLed and started again on the same etcd mid-rollout while the controller (a process) keeps running (issue 16). On a control plane of this file's own
// (ControlPlane.start, CRDs installed, its own simulator), so the other test files, which share
// the run's control plane, never see the outage. Checked: the rollout converges with every VM
// kept (same uids) and the invariants hold at every sample the checker could take.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { CoreV1Api } from '@kubernetes/client-node';
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { VMFleetStatus } from '../controller/api/generated/types.ts';
import { FLEET_LABEL } from '../controller/core/fleet/names.ts';
import { KubeClient } from '../controller/kube/client.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { ensureAssets } from '../controller/local/assets.ts';
import { ControlPlane } from '../controller/local/control-plane.ts';
import { installCrds } from '../controller/local/install-crds.ts';
import { Simulator } from '../sim/simulator.ts';
import { createRegistryObjects, goldenImage, vmFleet } from './fixtures/fleets.ts';
import { startRunProcess, type ControllerProcess } from './harness/controller-process.ts';
import { checkInvariants } from './harness/invariants.ts';
import { CRD_DIRS } from './harness/paths.ts';
import { waitFor } from './harness/wait.ts';

const NS = 'restarts';
const REPLICAS = 6;
let plane: ControlPlane;
let sim: Simulator;
let client: KubeClient;
let controller: ControllerProcess;

beforeAll(async () => {
  plane = await ControlPlane.start({ assets: await ensureAssets() });
  await installCrds(plane.kubeConfig(), CRD_DIRS);
  await plane.kubeConfig().makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
  client = new KubeClient(plane.kubeConfig(), { qps: 0, timeoutMs: 5_000 });
  sim = new Simulator(plane.kubeConfig(), { config: { speed: 20, namespaces: [NS], nodes: { prefix: NS, count: 4 } }, log: { info: () => undefined, error: () => undefined } });
  await sim.start();
  await createRegistryObjects(client, NS);
  await client.create(RESOURCES.goldenImage, goldenImage(NS, 'fedora'));
  controller = startRunProcess(['--kubeconfig', plane.kubeconfigPath, '-n', NS, '--migration-budget-scope', 'namespace'], { ...process.env, VIRTFLEET_WATCH_SILENCE_TIMEOUT_MS: '5000' });
}, 120_000);
afterAll(async () => {
  await controller?.kill('SIGKILL');
  await sim?.stop();
  await plane?.stop();
});

const status = async (name: string) => (await client.get<{ metadata?: { name?: string }; status?: VMFleetStatus }>(RESOURCES.vmFleet, { namespace: NS, name }))?.status;
const vms = async (name: string) => (await client.list<V1VirtualMachine>(RESOURCES.vm, { namespace: NS, labelSelector: `${FLEET_LABEL}=${name}` })).items;
const rolledOut = (s: VMFleetStatus | undefined) => !!s && s.replicas === REPLICAS && s.readyReplicas === REPLICAS && s.updatedReplicas === REPLICAS && s.currentRevision === s.updateRevision;
const settled = (what: string, probe: () => Promise<boolean>) => waitFor(what, () => probe().catch(() => false), 80_000, 250);

it('converges through a SIGKILLed kube-apiserver mid-rollout, keeping every VM', async () => {
  await client.create(RESOURCES.vmFleet, vmFleet(NS, 'web', { replicas: REPLICAS, version: 'v1', updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } } }));
  await settled('ready on v1', async () => rolledOut(await status('web')));
  const uids = new Map((await vms('web')).map((vm) => [vm.metadata!.name!, vm.metadata!.uid!]));
  const checker = await checkInvariants({ kubeConfig: plane.kubeConfig(), namespace: NS, fleets: [{ name: 'web', replicas: REPLICAS, maxUnavailable: 2, maxConcurrent: 2 }], migrationBudget: 5 });
  try {
    const before = (await status('web'))?.updateRevision;
    await client.mergePatch(RESOURCES.vmFleet, { namespace: NS, name: 'web' }, { spec: { image: { version: 'v2' } } });
    // Under way once the controller rolls to the new revision: a VM off the old one, or a VM down.
    // (Polling for a VM that is not ready alone misses restarts shorter than the poll.)
    await settled('the rollout under way', async () => {
      const now = await status('web');
      return now?.updateRevision !== before && ((now?.updatedReplicas ?? 0) > 0 || (await vms('web')).some((vm) => vm.status?.ready !== true));
    });
    const killedAt = Date.now();
    await plane.restart('kube-apiserver');
    console.log(`kube-apiserver back after ${Date.now() - killedAt} ms`);
    await settled('rolled out to v2', async () => rolledOut(await status('web')) && (await status('web'))?.imageVersion === 'v2');

    expect(new Map((await vms('web')).map((vm) => [vm.metadata!.name!, vm.metadata!.uid!]))).toEqual(uids);
    console.log(`restarts: ${checker.samples()} samples, ${checker.relists()} checker relists`);
    expect(checker.violations()).toEqual([]);
    expect(controller.child.exitCode).toBeNull();
  } finally {
    checker.stop();
  }
}, 170_000);
