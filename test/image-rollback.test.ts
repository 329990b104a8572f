// Gated promotion and automatic rollback end to end, against the run's real registry and the
// simulator. A registry image has channels `candidate` (follows latest) and `stable` (follows
// candidate after a soak time, with every VM on the version healthy), a fleet on each. A good push
// reaches candidate at once and stable only after the soak; a push whose guest does not boot (the
// simulator's failingImages) halts the candidate fleet's rollout, is rejected, skipped by latest
// and never reaches stable, and the candidate fleet returns to the previous version within
// maxUnavailable; clearing the rejection in the spec lets the channels take the version up again.
// A version that ran well on candidate and breaks only the stable fleet once promoted is rolled
// back from stable, whether that fleet's rollout halts or its healthy share stays too low.
// A pinned channel moved back in Git rolls its fleet back.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { CoreV1Event, V1ConfigMap } from '@kubernetes/client-node';
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { GoldenImageStatus } from '../controller/api/generated/types.ts';
import type { GoldenImage } from '../controller/api/objects.ts';
import { FLEET_LABEL } from '../controller/core/fleet/names.ts';
import { ApiError } from '../controller/kube/client.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { FAILING_IMAGES_KEY, parseFailingImages, SIM_CONFIGMAP } from '../sim/vmi/failing-images.ts';
import { DIGESTS, fixtureRepository, REGISTRY_CA, REGISTRY_SECRET, vmFleet } from './fixtures/fleets.ts';
import { fleetCluster, isCondition, sampleFleet, type FleetCluster } from './harness/fleet.ts';
import { pushContainerDisk, sharedRegistry, tagImage } from './harness/registry.ts';
import { waitFor } from './harness/wait.ts';

let c: FleetCluster;
const registry = () => sharedRegistry();
const IMAGE = 'rolling';
const SOAK_MS = 3_000;
/** Longer than the soak: a candidate VM Ready for less than this is not yet healthy for the gate. */
const CANDIDATE_MIN_READY_S = 4;
const rolling = { type: 'RollingUpdate' as const, rollingUpdate: { maxUnavailable: 1 } };
/** failingImages entries this file added to the cluster-wide ConfigMap, removed again in afterAll. */
const ourEntries = new Set<string>();

beforeAll(async () => {
  // The VMIs' phases pass quickly, so a rollout of three VMs takes a few seconds.
  c = await fleetCluster('image-rollback', { speed: 50, vmi: { pendingMs: 200, schedulingMs: 200, scheduledMs: 500 } });
}, 120_000);

afterAll(async () => {
  await Promise.all([...ourEntries].map((e) => setFailing(e, false))).catch((err: unknown) => console.error('failingImages not cleaned up', err));
  await c?.stop();
});

/**
 * Adds or removes one entry of failingImages in kube-system/virtfleet-sim, keeping whatever else
 * is listed (the ConfigMap is cluster-wide); deletes the ConfigMap once nothing is left.
 */
async function setFailing(entry: string, failing: boolean): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const cm = await c.client.get<V1ConfigMap>(RESOURCES.configMap, SIM_CONFIGMAP);
      const entries = new Set(parseFailingImages(cm?.data?.[FAILING_IMAGES_KEY]));
      if (failing) entries.add(entry);
      else entries.delete(entry);
      const data = { ...cm?.data, [FAILING_IMAGES_KEY]: [...entries].join('\n') };
      if (!cm) await c.client.create(RESOURCES.configMap, { metadata: { ...SIM_CONFIGMAP }, data });
      else if (entries.size === 0 && Object.keys(cm.data ?? {}).length <= 1) await c.client.delete(RESOURCES.configMap, SIM_CONFIGMAP, { uid: cm.metadata!.uid! });
      else await c.client.replace(RESOURCES.configMap, { ...cm, data });
      if (failing) ourEntries.add(entry);
      else ourEntries.delete(entry);
      return;
    } catch (err) {
      // Someone else wrote it in between: read it again.
      if (attempt >= 5 || !(err instanceof ApiError && (err.conflict || err.alreadyExists || err.notFound))) throw err;
      await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
    }
  }
}
/** The simulator reads failingImages at most once a second. */
const simSeesFailingImages = () => new Promise((r) => setTimeout(r, 1_500));

const status = async (): Promise<GoldenImageStatus | undefined> => (await c.client.get<GoldenImage>(RESOURCES.goldenImage, { namespace: c.namespace, name: IMAGE }))?.status;
const channel = (s: GoldenImageStatus | undefined, name: string) => s?.channels?.find((x) => x.name === name);
const versionOf = (s: GoldenImageStatus | undefined, digest: string) => s?.versions?.find((v) => v.digest === digest);

async function waitForImage(what: string, probe: (s: GoldenImageStatus) => boolean, timeoutMs = 30_000): Promise<GoldenImageStatus> {
  try {
    return await waitFor(what, async () => {
      const s = await status();
      return s && probe(s) ? s : undefined;
    }, timeoutMs, 50);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nstatus: ${JSON.stringify(await status())}`);
  }
}

const bootsDigest = (vm: V1VirtualMachine, image: string) => vm.spec?.template.spec?.volumes?.some((v) => v.containerDisk?.image === image) ?? false;
const onlyOn = (image: string) => (_: unknown, vms: V1VirtualMachine[]) => vms.length === 3 && vms.every((vm) => bootsDigest(vm, image) && vm.status?.ready === true);

describe('gated promotion and automatic rollback', () => {
  it('promotes a good version after the soak, rolls a broken one back, and takes it up again once cleared', async () => {
    const repository = `disks/rollback-${randomBytes(3).toString('hex')}`;
    const at = (digest: string) => `${registry().host}/${repository}@${digest}`;
    const d1 = await pushContainerDisk(registry(), repository, 'latest', { seed: `${repository}-1` });
    await c.client.create(RESOURCES.goldenImage, {
      apiVersion: 'virtfleet.io/v1alpha1',
      kind: 'GoldenImage',
      metadata: { name: IMAGE, namespace: c.namespace },
      spec: {
        source: { registry: { repository: `${registry().host}/${repository}`, tag: 'latest', pollInterval: '1s', pullSecretRef: { name: REGISTRY_SECRET }, caConfigMapRef: REGISTRY_CA } },
        channels: [
          { name: 'candidate', follows: 'latest' },
          { name: 'stable', follows: 'candidate', promotion: { soakTime: `${SOAK_MS / 1000}s`, minHealthyPercent: 100 } },
        ],
      },
    });
    const fleet = (name: string, ch: string, minReadySeconds: number) => vmFleet(c.namespace, name, { replicas: 3, image: IMAGE, channel: ch, minReadySeconds, updateStrategy: rolling });
    await c.client.create(RESOURCES.vmFleet, fleet('cand', 'candidate', CANDIDATE_MIN_READY_S));
    await c.client.create(RESOURCES.vmFleet, fleet('prod', 'stable', 1));
    const s1 = await waitForImage('the first version on both channels', (s) => channel(s, 'stable')?.version !== undefined && channel(s, 'stable')?.version === versionOf(s, d1)?.name);
    const v1 = versionOf(s1, d1)!.name;
    await c.waitForFleet('cand', 'the candidate fleet on v1', onlyOn(at(d1)));
    await c.waitForFleet('prod', 'the stable fleet on v1', onlyOn(at(d1)));

    // A good version: candidate takes it at once, stable only after the soak and the health gate.
    const d2 = await pushContainerDisk(registry(), repository, 'latest', { seed: `${repository}-2` });
    const gates: string[] = [];
    const s2 = await waitForImage('stable promoted to the second version', (s) => {
      const g = channel(s, 'stable')?.gate?.message;
      if (g && gates.at(-1) !== g) gates.push(g);
      return versionOf(s, d2) !== undefined && channel(s, 'stable')?.version === versionOf(s, d2)!.name;
    }, 60_000);
    const v2 = versionOf(s2, d2)!.name;
    const candidateSince = Date.parse(channel(s2, 'candidate')!.since!);
    const stableSince = Date.parse(channel(s2, 'stable')!.since!);
    expect(channel(s2, 'candidate')).toMatchObject({ version: v2, previousVersion: v1 });
    expect(channel(s2, 'stable')).toMatchObject({ version: v2, previousVersion: v1, gate: { state: 'Open' } });
    expect(stableSince - candidateSince).toBeGreaterThanOrEqual(SOAK_MS);
    expect(gates).toContainEqual(expect.stringMatching(new RegExp(`${v2} is soaking on candidate until`)));
    await c.waitForFleet('prod', 'the stable fleet rolled onto v2', onlyOn(at(d2)));
    await c.waitForFleet('cand', 'the candidate fleet on v2', onlyOn(at(d2)));
    // Healthy means Ready past the fleet's minReadySeconds: not even the first candidate VM
    // restarted onto v2 was healthy before it had been Ready that long.
    const readySince = (vm: V1VirtualMachine) => Date.parse(String((vm.status?.conditions?.find((x) => x.type === 'Ready') as { lastTransitionTime?: string } | undefined)?.lastTransitionTime ?? ''));
    const firstReady = Math.min(...(await c.fleetVMs('cand')).map(readySince));
    expect(stableSince - firstReady).toBeGreaterThanOrEqual(CANDIDATE_MIN_READY_S * 1000);
    const prodVMs = (await c.fleetVMs('prod')).map((vm) => vm.metadata!.uid).sort();

    // A version whose guest does not boot: staged under another tag first, so its digest can be
    // listed in failingImages before the tracked tag moves onto it.
    const d3 = await pushContainerDisk(registry(), repository, 'staged', { seed: `${repository}-3` });
    await setFailing(d3, true);
    await simSeesFailingImages();
    const sampler = await sampleFleet(c.namespace, 'cand');
    let s3: GoldenImageStatus;
    try {
      await tagImage(registry(), repository, d3, 'latest');
      s3 = await waitForImage('the third version rejected and candidate back on v2', (s) => versionOf(s, d3)?.rejected !== undefined && channel(s, 'candidate')?.version === v2, 60_000);
      await c.waitForFleet('cand', 'the candidate fleet back on v2', (f, vms) => f.imageVersion === v2 && onlyOn(at(d2))(f, vms), 60_000);
    } finally {
      sampler.stop();
    }
    const v3 = versionOf(s3, d3)!.name;
    expect(versionOf(s3, d3)).toMatchObject({ phase: 'Ready', rejected: { channel: 'candidate', reason: 'RolloutHalted' } });
    expect(versionOf(s3, d3)!.rejected!.message).toMatch(new RegExp(`${c.namespace}/cand \\(cand-\\d`));
    expect(s3.latestVersion).toBe(v2);
    expect(channel(s3, 'candidate')).toMatchObject({ version: v2, previousVersion: v3 });
    expect(channel(s3, 'stable')).toMatchObject({ version: v2, since: new Date(stableSince).toISOString() });
    expect(s3.conditions?.find((x) => x.type === 'RolledBack')).toMatchObject({ status: 'True', reason: 'VersionRejected' });
    expect(sampler.maxUnavailable(3)).toBeLessThanOrEqual(1);
    expect(sampler.maxCount()).toBeLessThanOrEqual(3);
    const warning = await waitFor('a VersionRolledBack Event', async () => (await c.client.list<CoreV1Event>(RESOURCES.event, { namespace: c.namespace })).items.find((e) => e.involvedObject?.name === IMAGE && e.reason === 'VersionRolledBack'), 10_000);
    expect(warning.type).toBe('Warning');
    expect(warning.message).toMatch(new RegExp(`from ${v3} to ${v2}.*${c.namespace}/cand \\(cand-\\d`));
    // Stable never moved and its fleet was never touched; the version stays rejected while it is
    // the newest, and the stable fleet never saw it.
    await new Promise((r) => setTimeout(r, SOAK_MS + 500));
    const quiet = await status();
    expect(channel(quiet, 'stable')?.version).toBe(v2);
    expect(channel(quiet, 'candidate')?.version).toBe(v2);
    expect(versionOf(quiet, d3)?.rejected).toBeDefined();
    expect((await c.fleetVMs('prod')).map((vm) => vm.metadata!.uid).sort()).toEqual(prodVMs);
    expect((await c.fleetVMs('prod')).every((vm) => bootsDigest(vm, at(d2)))).toBe(true);

    // Mended and cleared in Git: candidate takes the version up again, and it now works.
    await setFailing(d3, false);
    await simSeesFailingImages();
    await c.client.mergePatch(RESOURCES.goldenImage, { namespace: c.namespace, name: IMAGE }, { spec: { clearedRejections: [v3] } });
    const s4 = await waitForImage('the rejection cleared and candidate on v3', (s) => versionOf(s, d3)?.rejected === undefined && channel(s, 'candidate')?.version === v3);
    expect(s4.latestVersion).toBe(v3);
    expect(s4.conditions?.find((x) => x.type === 'RolledBack')).toBeUndefined();
    await c.waitForFleet('cand', 'the candidate fleet on v3', onlyOn(at(d3)), 60_000);
    await waitForImage('stable promoted to v3 after its soak', (s) => channel(s, 'stable')?.version === v3, 30_000);
    await c.waitForFleet('prod', 'the stable fleet on v3', onlyOn(at(d3)), 60_000);
  }, 240_000);

  // A version that runs well on candidate and breaks only the stable fleet once promoted. Stable
  // judges the move on its own fleet's VMs that run the version: a VM whose spec was updated
  // while its old, Ready instance still runs is not one. With pauseOnFailure the stable fleet's
  // rollout halts on the first failing VM; without it, the rollout stops at maxUnavailable and
  // the healthy share stays below minHealthyPercent until the rollback window ends.
  it.each([
    { how: 'its rollout halts', name: 'promoted', pre: 'pre', live: 'live', pauseOnFailure: true, reason: 'RolloutHalted', said: 'the rollout of ' },
    { how: 'too few of its VMs are healthy when the window ends', name: 'promoted-late', pre: 'late-pre', live: 'late', pauseOnFailure: false, reason: 'Unhealthy', said: '0/1 VMs on .* healthy after 6s, below 100% \\(not healthy: ' },
  ])('rolls stable back when a version promoted from a healthy candidate breaks the stable fleet: $how', async ({ name, pre, live, pauseOnFailure, reason, said }) => {
    const repository = `disks/${name}-${randomBytes(3).toString('hex')}`;
    const at = (digest: string) => `${registry().host}/${repository}@${digest}`;
    const imageStatus = async () => (await c.client.get<GoldenImage>(RESOURCES.goldenImage, { namespace: c.namespace, name }))?.status;
    const waitForIt = (what: string, probe: (s: GoldenImageStatus) => boolean, timeoutMs = 30_000) =>
      waitFor(what, async () => {
        const s = await imageStatus();
        return s && probe(s) ? s : undefined;
      }, timeoutMs, 50).catch(async (err: unknown) => {
        throw new Error(`${(err as Error).message}\nstatus: ${JSON.stringify(await imageStatus())}`);
      });
    // The soak is long while the new version runs on candidate, so the test decides when stable
    // takes it up: only once the simulator fails the version's guests.
    const channels = (soakTime: string) => [
      { name: 'candidate', follows: 'latest' },
      { name: 'stable', follows: 'candidate', promotion: { soakTime, minHealthyPercent: 100 }, rollback: { window: '6s' } },
    ];
    const d1 = await pushContainerDisk(registry(), repository, 'latest', { seed: `${repository}-1` });
    await c.client.create(RESOURCES.goldenImage, {
      apiVersion: 'virtfleet.io/v1alpha1',
      kind: 'GoldenImage',
      metadata: { name, namespace: c.namespace },
      spec: {
        source: { registry: { repository: `${registry().host}/${repository}`, tag: 'latest', pollInterval: '1s', pullSecretRef: { name: REGISTRY_SECRET }, caConfigMapRef: REGISTRY_CA } },
        channels: channels('1s'),
      },
    });
    /** Every VMI of the fleet boots `image` and is Ready (its VMs' spec and status say so before that). */
    const vmisOn = (fleetName: string, image: string) => waitFor(`every VMI of ${fleetName} on ${image} and Ready`, async () => {
      const vmis = (await c.client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: c.namespace, labelSelector: `${FLEET_LABEL}=${fleetName}` })).items;
      return vmis.length === 3 && vmis.every((vmi) => !vmi.metadata?.deletionTimestamp && vmi.spec?.volumes?.some((v) => v.containerDisk?.image === image) && vmi.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'));
    }, 60_000, 100);
    const strategy = { type: 'RollingUpdate' as const, rollingUpdate: { maxUnavailable: 1, pauseOnFailure } };
    await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, pre, { replicas: 3, image: name, channel: 'candidate', minReadySeconds: 1, updateStrategy: rolling }));
    await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, live, { replicas: 3, image: name, channel: 'stable', minReadySeconds: 1, updateStrategy: strategy }));
    const s1 = await waitForIt('the first version on both channels', (s) => channel(s, 'stable')?.version !== undefined && channel(s, 'stable')?.version === versionOf(s, d1)?.name);
    const v1 = versionOf(s1, d1)!.name;
    await c.waitForFleet(pre, 'the candidate fleet on v1', onlyOn(at(d1)));
    await c.waitForFleet(live, 'the stable fleet on v1', onlyOn(at(d1)));
    await c.client.mergePatch(RESOURCES.goldenImage, { namespace: c.namespace, name }, { spec: { channels: channels('1h') } });

    // The second version runs well on candidate; then its guests stop booting, and it is promoted.
    // A VM's spec and status say v2 and Ready before its old VMI is replaced: the candidate fleet
    // is on v2 only once all its VMIs boot it, else one would restart into the failing guest.
    const d2 = await pushContainerDisk(registry(), repository, 'latest', { seed: `${repository}-2` });
    await c.waitForFleet(pre, 'the candidate fleet on v2', onlyOn(at(d2)), 60_000);
    await vmisOn(pre, at(d2));
    const s2 = await waitForIt('candidate on v2, stable soaking', (s) => versionOf(s, d2) !== undefined && channel(s, 'candidate')?.version === versionOf(s, d2)!.name);
    const v2 = versionOf(s2, d2)!.name;
    expect(channel(s2, 'stable')).toMatchObject({ version: v1, gate: { state: 'Waiting' } });
    await setFailing(d2, true);
    await simSeesFailingImages();
    const preVMs = (await c.fleetVMs(pre)).map((vm) => vm.metadata!.uid).sort();
    const sampler = await sampleFleet(c.namespace, live);
    let s3: GoldenImageStatus;
    try {
      await c.client.mergePatch(RESOURCES.goldenImage, { namespace: c.namespace, name }, { spec: { channels: channels('1s') } });
      s3 = await waitForIt('v2 rejected and stable back on v1', (s) => versionOf(s, d2)?.rejected !== undefined && channel(s, 'stable')?.version === v1, 60_000);
      await c.waitForFleet(live, 'the stable fleet back on v1', (f, vms) => f.imageVersion === v1 && onlyOn(at(d1))(f, vms), 60_000);
      await vmisOn(live, at(d1));
    } finally {
      sampler.stop();
    }
    const named = new RegExp(`channel stable rolled back from ${v2} to ${v1}: ${said}.*${c.namespace}/${live} \\(${live}-\\d`);
    const rejected = versionOf(s3, d2)!.rejected!;
    expect(rejected).toMatchObject({ channel: 'stable', reason });
    expect(rejected.message).toMatch(named);
    expect(channel(s3, 'stable')).toMatchObject({ version: v1, previousVersion: v2 });
    // Latest skips the rejected version, so candidate leaves it too.
    expect(s3.latestVersion).toBe(v1);
    expect(channel(s3, 'candidate')?.version).toBe(v1);
    const rolledBack = s3.conditions?.find((x) => x.type === 'RolledBack');
    expect(rolledBack).toMatchObject({ status: 'True', reason: 'VersionRejected' });
    expect(rolledBack?.message).toMatch(named);
    expect(sampler.maxUnavailable(3)).toBeLessThanOrEqual(1);
    expect(sampler.maxCount()).toBeLessThanOrEqual(3);
    const warning = await waitFor('a VersionRolledBack Event for stable', async () => (await c.client.list<CoreV1Event>(RESOURCES.event, { namespace: c.namespace })).items.find((e) => e.involvedObject?.name === name && e.reason === 'VersionRolledBack'), 10_000);
    expect(warning.type).toBe('Warning');
    expect(warning.message).toMatch(named);
    // The candidate fleet's VMs, healthy on v2 throughout, leave it with the channel: the same
    // VMs, restarted onto v1.
    await c.waitForFleet(pre, 'the candidate fleet on v1', onlyOn(at(d1)), 60_000);
    await vmisOn(pre, at(d1));
    expect((await c.fleetVMs(pre)).map((vm) => vm.metadata!.uid).sort()).toEqual(preVMs);
  }, 240_000);

  it('moving a pinned channel back in Git rolls its fleet back', async () => {
    const on = (v: keyof typeof DIGESTS) => `${fixtureRepository()}@${DIGESTS[v]}`;
    await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'pinned', { replicas: 2, channel: 'stable', updateStrategy: rolling }));
    const both = (image: string) => (_: unknown, vms: V1VirtualMachine[]) => vms.length === 2 && vms.every((vm) => bootsDigest(vm, image) && vm.status?.ready === true);
    await c.waitForFleet('pinned', 'the pinned fleet on v1', both(on('v1')));
    const pin = (version: string) => c.client.mergePatch(RESOURCES.goldenImage, { namespace: c.namespace, name: 'fedora' }, { spec: { channels: [{ name: 'stable', version }] } });
    await pin('v2');
    await c.waitForFleet('pinned', 'the pinned fleet rolled onto v2', (f, vms) => f.imageVersion === 'v2' && both(on('v2'))(f, vms));
    const sampler = await sampleFleet(c.namespace, 'pinned');
    try {
      await pin('v1');
      await c.waitForFleet('pinned', 'the pinned fleet rolled back to v1', (f, vms) => f.imageVersion === 'v1' && isCondition(f, 'Stalled', 'False') && both(on('v1'))(f, vms));
    } finally {
      sampler.stop();
    }
    expect(sampler.maxUnavailable(2)).toBeLessThanOrEqual(1);
  }, 90_000);
});
