// Deprecations on running fleets: a Deprecated version is reported and restarts nothing; VMs on an
// Obsolete version are rolled forward to their channel's version inside the disruption window
// only, also under OnDelete; a fleet pinned to an Obsolete version stalls with its VMs left running.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RESOURCES } from '../controller/kube/resources.ts';
import { DIGESTS, fixtureRepository, vmFleet } from './fixtures/fleets.ts';
import { fleetCluster, isCondition, type FleetCluster } from './harness/fleet.ts';

let c: FleetCluster;
beforeAll(async () => {
  c = await fleetCluster('deprecation');
}, 120_000);
afterAll(async () => c?.stop());

const images = async (fleet: string) => (await c.fleetVMs(fleet)).map((vm) => vm.spec?.template.spec?.volumes?.find((v) => v.containerDisk)?.containerDisk?.image).sort();
const uids = async (fleet: string) => (await c.fleetVMs(fleet)).map((vm) => vm.metadata!.uid).sort();
const on = (version: keyof typeof DIGESTS) => `${fixtureRepository()}@${DIGESTS[version]}`;
const patchImage = (spec: Record<string, unknown>) => c.client.mergePatch(RESOURCES.goldenImage, { namespace: c.namespace, name: 'fedora' }, { spec });

describe('deprecations on running fleets', () => {
  it('Deprecated is reported without a restart; Obsolete rolls OnDelete VMs forward only inside the window; pinned to Obsolete stalls', async () => {
    const onDelete = { type: 'OnDelete' as const };
    // A window that is closed now (it opens once a year) holds the second fleet.
    const closed = { disruptionWindow: { schedule: '0 0 1 1 *', duration: '1m' } };
    await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'open', { replicas: 2, channel: 'stable', updateStrategy: onDelete }));
    await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'held', { replicas: 2, channel: 'stable', updateStrategy: onDelete, remediation: closed }));
    await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'pinned', { replicas: 1, version: 'v1' }));
    for (const f of ['open', 'held', 'pinned']) await c.waitForFleet(f, `${f} on v1`, (s) => s.readyReplicas === s.replicas && s.replicas! > 0 && s.imageVersion === 'v1');
    const before = { open: await uids('open'), held: await uids('held') };

    // v1 Deprecated: reported, latest skips it, nothing restarts.
    await patchImage({ deprecations: [{ version: 'v1', state: 'Deprecated', message: 'move to v2' }] });
    await c.waitForFleet('open', 'ImageDeprecated reported', (s) => isCondition(s, 'ImageDeprecated', 'True', 'VersionDeprecated'));
    const deprecated = (await c.fleetStatus('open'))!.conditions!.find((x) => x.type === 'ImageDeprecated')!;
    expect(deprecated.message).toMatch(/v1 .* is Deprecated: move to v2/);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await uids('open')).toEqual(before.open);
    expect(await images('open')).toEqual([on('v1'), on('v1')]);

    // stable moves to v2 and v1 becomes Obsolete: OnDelete alone would leave the VMs on v1.
    await patchImage({ channels: [{ name: 'stable', version: 'v2' }], deprecations: [{ version: 'v1', state: 'Obsolete', message: 'unsafe, see advisory 42' }] });
    await c.waitForFleet('open', 'the open fleet rolled forward to v2', (s, vms) => s.imageVersion === 'v2' && s.readyReplicas === 2 && vms.length === 2 && vms.every((vm) => vm.spec?.template.spec?.volumes?.some((v) => v.containerDisk?.image === on('v2'))), 120_000);
    expect(await images('open')).toEqual([on('v2'), on('v2')]);
    await c.waitForFleet('open', 'no deprecation left to report', (s) => isCondition(s, 'ImageDeprecated', 'False'));

    // The closed window holds the other fleet's VMs on v1, reported as obsoleteImage drift.
    await c.waitForFleet('held', 'obsolete drift reported, waiting for the window', (s) => s.driftedReplicasByKind?.obsoleteImage === 2 && isCondition(s, 'Drifted', 'True'));
    expect(await images('held')).toEqual([on('v1'), on('v1')]);
    expect(await uids('held')).toEqual(before.held);

    // Pinned by version to an Obsolete version: stalled, its VM left running.
    await c.waitForFleet('pinned', 'Stalled ObsoleteVersion', (s) => isCondition(s, 'Stalled', 'True', 'ObsoleteVersion'));
    expect((await c.fleetStatus('pinned'))!.conditions!.find((x) => x.type === 'Stalled')!.message).toMatch(/unsafe, see advisory 42/);
    expect(await images('pinned')).toEqual([on('v1')]);
    expect((await c.fleetStatus('pinned'))!.readyReplicas).toBe(1);
  }, 180_000);
});
