// `virtfleet plan` of GoldenImage changes, planned through the fleets that use the image and
// compared with what the controllers then do, VM by VM: a channel moved, a version made Obsolete.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { GoldenImage } from '../controller/api/objects.ts';
import type { PlanReport } from '../controller/cli/plan-output.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { goldenImage, vmFleet } from './fixtures/fleets.ts';
import { kubectl } from './harness/cluster.ts';
import { fleetCluster, type FleetCluster } from './harness/fleet.ts';
import { REPO_ROOT } from './harness/paths.ts';
import { waitFor } from './harness/wait.ts';

const run = promisify(execFile);

let c: FleetCluster;
beforeAll(async () => (c = await fleetCluster('plan-image', { nodes: { count: 3 } }, { goldenImage: false })));
afterAll(async () => c?.stop());

async function plan(manifest: object): Promise<PlanReport> {
  const cli = run(process.execPath, [join(REPO_ROOT, 'controller/cli/main.ts'), 'plan', '--kubeconfig', process.env.VIRTFLEET_TEST_KUBECONFIG!, '-n', c.namespace, '-f', '-', '-o', 'json'], { timeout: 30_000 });
  cli.child.stdin!.end(JSON.stringify(manifest));
  return JSON.parse((await cli).stdout) as PlanReport;
}

const vmiUids = async () => new Map((await c.client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace })).items.map((i) => [i.metadata!.name!, i.metadata!.uid!]));

it('a channel move restarts the fleet on it and an Obsolete pinned version stalls its fleet, as planned', async () => {
  const image = goldenImage(c.namespace, 'fedora', 'v1');
  expect((await kubectl(['apply', '-f', '-'], { input: JSON.stringify(image) })).code).toBe(0);
  await waitFor('stable at v1', async () => (await c.client.get<GoldenImage>(RESOURCES.goldenImage, { namespace: c.namespace, name: 'fedora' }))?.status?.channels?.some((ch) => ch.name === 'stable' && ch.version === 'v1') ?? false, 30_000, 200);
  const onChannel = vmFleet(c.namespace, 'chan', { replicas: 3, channel: 'stable', updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } } });
  const pinned = vmFleet(c.namespace, 'pin', { replicas: 2, version: 'v1' });
  for (const f of [onChannel, pinned]) expect((await kubectl(['apply', '-f', '-'], { input: JSON.stringify(f) })).code).toBe(0);
  for (const f of ['chan', 'pin']) await c.waitForFleet(f, `${f} available`, (s, vms) => s.availableReplicas === vms.length && vms.length > 0);

  // Move stable to v2: the channel fleet restarts one VM at a time (maxUnavailable 1); the pinned one is untouched.
  const moved = { ...image, spec: { ...image.spec, channels: [{ name: 'stable', version: 'v2' }] } };
  const report = await plan(moved);
  expect(report.images[0]!.channels).toEqual([{ name: 'stable', from: 'v1', to: 'v2' }]);
  expect(report.images[0]!.fleets.sort()).toEqual([`${c.namespace}/chan`, `${c.namespace}/pin`]);
  const chan = report.fleets.find((f) => f.name === 'chan')!;
  const pin = report.fleets.find((f) => f.name === 'pin')!;
  expect(chan.vms.map((vm) => vm.action)).toEqual(['restart', 'restart', 'restart']);
  expect(chan.waves).toHaveLength(3);
  expect(pin.summary.changed).toBe(0);
  const before = await vmiUids();
  expect((await kubectl(['apply', '-f', '-'], { input: JSON.stringify(moved) })).code).toBe(0);
  await c.waitForFleet('chan', 'chan on v2', (s) => s.updateRevision === chan.updateRevision && s.updatedReplicas === 3 && s.availableReplicas === 3);
  const after = await vmiUids();
  for (const vm of [...chan.vms, ...pin.vms]) expect([vm.name, before.get(vm.name) !== after.get(vm.name)]).toEqual([vm.name, vm.action === 'restart']);

  // Make v1 Obsolete: the fleet pinned to it stalls and nothing is done to its VMs.
  const obsolete = { ...moved, spec: { ...moved.spec, deprecations: [{ version: 'v1', state: 'Obsolete' }] } };
  const second = await plan(obsolete);
  expect(second.images[0]!.versions).toEqual([{ name: 'v1', from: 'Ready', to: 'Obsolete' }]);
  const stalled = second.fleets.find((f) => f.name === 'pin')!;
  expect(stalled.state).toBe('Stalled');
  expect(stalled.message).toContain('ObsoleteVersion');
  expect(second.fleets.find((f) => f.name === 'chan')!.summary.changed).toBe(0);
  expect((await kubectl(['apply', '-f', '-'], { input: JSON.stringify(obsolete) })).code).toBe(0);
  await c.waitForFleet('pin', 'pin stalled', (s) => s.conditions?.some((x) => x.type === 'Stalled' && x.status === 'True' && x.reason === 'ObsoleteVersion') ?? false);
  expect(await vmiUids()).toEqual(after);
});
