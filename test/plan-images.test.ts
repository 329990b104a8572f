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

it('a channel that follows with a soak time is planned to take the version up when the soak ends, and its fleet as not changing; a terse fleet manifest plans as stored', async () => {
  const base = goldenImage(c.namespace, 'promo', 'v1');
  const channels = (candidate: string, promotion?: object) => [{ name: 'candidate', version: candidate }, { name: 'stable', follows: 'candidate', ...(promotion ? { promotion } : {}) }];
  // stable takes v1 up at once, then gets its soak time and health gate.
  const start = { ...base, spec: { ...base.spec, channels: channels('v1') } };
  expect((await kubectl(['apply', '-f', '-'], { input: JSON.stringify(start) })).code).toBe(0);
  await waitFor('stable at v1', async () => (await c.client.get<GoldenImage>(RESOURCES.goldenImage, { namespace: c.namespace, name: 'promo' }))?.status?.channels?.some((ch) => ch.name === 'stable' && ch.version === 'v1') ?? false, 30_000, 200);
  const gated = { ...base, spec: { ...base.spec, channels: channels('v1', { soakTime: '1h', minHealthyPercent: 100 }) } };
  expect((await kubectl(['apply', '-f', '-'], { input: JSON.stringify(gated) })).code).toBe(0);
  const strategy = { type: 'RollingUpdate' as const, rollingUpdate: { maxUnavailable: 1 } };
  const candidateFleet = vmFleet(c.namespace, 'cand', { image: 'promo', channel: 'candidate', replicas: 2, updateStrategy: strategy });
  const stableFleet = vmFleet(c.namespace, 'stab', { image: 'promo', channel: 'stable', replicas: 2 });
  for (const f of [candidateFleet, stableFleet]) expect((await kubectl(['apply', '-f', '-'], { input: JSON.stringify(f) })).code).toBe(0);
  for (const f of ['cand', 'stab']) await c.waitForFleet(f, `${f} available`, (s, vms) => s.availableReplicas === 2 && vms.length === 2);

  // The fleet's manifest leaves updateStrategy, runStrategy and the rest to the CRD defaults: no change.
  const terse = structuredClone(stableFleet);
  delete (terse.spec.template.spec as { runStrategy?: string }).runStrategy;
  const unchanged = await plan(terse);
  expect([unchanged.changes, unchanged.fleets[0]!.summary.changed]).toEqual([false, 0]);

  const moved = { ...gated, spec: { ...gated.spec, channels: channels('v2', { soakTime: '1h', minHealthyPercent: 100 }) } };
  const planned = Date.now();
  const report = await plan(moved);
  expect(report.images[0]!.channels).toEqual([{ name: 'candidate', from: 'v1', to: 'v2' }]);
  const promotion = report.images[0]!.promotions.find((p) => p.channel === 'stable')!;
  expect(promotion).toMatchObject({ follows: 'candidate', version: 'v2', stays: 'v1', gate: { state: 'Waiting' } });
  const takesUpAt = Date.parse(promotion.takesUpAt!);
  expect(takesUpAt).toBeGreaterThanOrEqual(planned + 3600_000 - 1000);
  expect(takesUpAt).toBeLessThanOrEqual(Date.now() + 3600_000);
  const cand = report.fleets.find((f) => f.name === 'cand')!;
  const stab = report.fleets.find((f) => f.name === 'stab')!;
  expect(cand.vms.map((vm) => vm.action)).toEqual(['restart', 'restart']);
  expect(stab.summary.changed).toBe(0);
  expect(stab.channelWaits?.channel).toBe('stable');
  for (const vm of stab.vms) expect(vm.reason).toContain('channel stable stays at v1: takes up v2 at');

  const before = await vmiUids();
  expect((await kubectl(['apply', '-f', '-'], { input: JSON.stringify(moved) })).code).toBe(0);
  await c.waitForFleet('cand', 'cand on v2', (s) => s.updateRevision === cand.updateRevision && s.updatedReplicas === 2 && s.availableReplicas === 2);
  const image = await c.client.get<GoldenImage>(RESOURCES.goldenImage, { namespace: c.namespace, name: 'promo' });
  const stableNow = image!.status!.channels!.find((ch) => ch.name === 'stable')!;
  expect([stableNow.version, stableNow.gate?.state]).toEqual(['v1', 'Waiting']);
  // The controller's soak ends when the plan said, give or take the seconds between plan and apply.
  const soakEnds = Date.parse(/soaking on candidate until (\S+);/.exec(stableNow.gate?.message ?? '')?.[1] ?? '');
  expect(Math.abs(soakEnds - takesUpAt)).toBeLessThan(30_000);
  const after = await vmiUids();
  for (const vm of [...cand.vms, ...stab.vms]) expect([vm.name, before.get(vm.name) !== after.get(vm.name)]).toEqual([vm.name, vm.action === 'restart']);
});
