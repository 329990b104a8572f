// Cosign signature verification of a registry GoldenImage against the run's real registry: the
// public key in a Secret of the image's namespace, four images moved one after another behind the
// tracked tag (each signed, or not, before the tag moves onto it). The one signed with the
// configured key becomes Ready; the unsigned one, the one signed by another key and the one
// whose payload names another digest are Failed (SignatureInvalid), and the fleet on a channel
// that follows latest only ever runs the good one.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { CoreV1Event } from '@kubernetes/client-node';
import type { V1VirtualMachine } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { GoldenImageStatus } from '../controller/api/generated/types.ts';
import type { GoldenImage, VMFleet } from '../controller/api/objects.ts';
import { ApiError } from '../controller/kube/client.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { REGISTRY_CA, REGISTRY_SECRET, vmFleet } from './fixtures/fleets.ts';
import { generateSigningKey, signImage } from './harness/cosign.ts';
import { fleetCluster, type FleetCluster } from './harness/fleet.ts';
import { pushContainerDisk, sharedRegistry, tagImage } from './harness/registry.ts';
import { imageStatus, waitForImage as waitForImageStatus } from './harness/images.ts';
import { waitFor } from './harness/wait.ts';

let c: FleetCluster;
const registry = () => sharedRegistry();

beforeAll(async () => {
  c = await fleetCluster('image-signatures', {}, { goldenImage: false });
}, 120_000);

afterAll(async () => {
  await c?.stop();
});

const status = (name: string) => imageStatus(c.client, c.namespace, name);
const waitForImage = (name: string, what: string, probe: (s: GoldenImageStatus) => boolean, timeoutMs = 30_000) => waitForImageStatus(c.client, c.namespace, name, what, probe, timeoutMs, 100);

function verifiedImage(name: string, repository: string, publicKeys: Record<string, unknown>): GoldenImage {
  return {
    apiVersion: 'virtfleet.io/v1alpha1',
    kind: 'GoldenImage',
    metadata: { name, namespace: c.namespace },
    spec: {
      source: { registry: { repository: `${registry().host}/${repository}`, tag: 'latest', pollInterval: '1s', pullSecretRef: { name: REGISTRY_SECRET }, caConfigMapRef: REGISTRY_CA, verification: { publicKeys } } },
      channels: [{ name: 'stable', follows: 'latest' }],
    },
  } as GoldenImage;
}

describe('signature verification', () => {
  it('the API server refuses keys from both a Secret and a ConfigMap', async () => {
    const both = verifiedImage('both-refs', 'disks/unused', { secretRef: { name: 'keys' }, configMapRef: { name: 'keys' } });
    const err = await c.client.create(RESOURCES.goldenImage, both).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toContain('exactly one of publicKeys.secretRef or publicKeys.configMapRef must be set');
  });

  it('a signed version becomes Ready; unsigned, wrongly keyed and misdirected ones are Failed SignatureInvalid and never reach the fleet', async () => {
    const repository = `disks/signed-${randomBytes(3).toString('hex')}`;
    const ours = generateSigningKey();
    const theirs = generateSigningKey();
    // Two keys in one value: the image's key and an unrelated one, as a rotation would leave them.
    const keys = `${generateSigningKey().publicKeyPEM}${ours.publicKeyPEM}`;
    await c.client.create(RESOURCES.secret, { metadata: { name: 'signing-keys', namespace: c.namespace }, stringData: { 'cosign.pub': keys } });

    // Pushed under its own tag and signed before the tracked tag moves onto it.
    const publish = async (seed: number, sign: (digest: string) => Promise<unknown>): Promise<string> => {
      const digest = await pushContainerDisk(registry(), repository, `build-${seed}`, { seed: `signatures-${seed}` });
      await sign(digest);
      await tagImage(registry(), repository, digest, 'latest');
      return digest;
    };
    const good = await publish(1, (d) => signImage(registry(), repository, d, ours));
    await c.client.create(RESOURCES.goldenImage, verifiedImage('signed', repository, { secretRef: { name: 'signing-keys' } }));
    const s1 = await waitForImage('signed', 'the signed version Ready on the channel', (s) => s.versions?.[0]?.phase === 'Ready' && s.channels?.[0]?.version === s.versions[0].name);
    const goodVersion = s1.versions![0]!;
    expect(goodVersion.digest).toBe(good);

    await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'web', { replicas: 2, image: 'signed', channel: 'stable' }));
    const onGood = (vms: V1VirtualMachine[]) =>
      vms.every((vm) => vm.spec?.template.spec?.volumes?.some((v) => v.containerDisk?.image === `${registry().host}/${repository}@${good}`));
    await c.waitForFleet('web', 'the fleet on the signed version', (f, vms) => f.readyReplicas === 2 && f.imageVersion === goodVersion.name && onGood(vms));

    // Sample the channel and the fleet's VMs for the rest of the test: neither ever leaves the good version.
    const seen = { channel: new Set<string>(), images: new Set<string>() };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await status('signed');
        for (const ch of s?.channels ?? []) if (ch.version) seen.channel.add(ch.version);
        const vms = await c.client.list<V1VirtualMachine>(RESOURCES.vm, { namespace: c.namespace });
        for (const vm of vms.items) for (const v of vm.spec?.template.spec?.volumes ?? []) if (v.containerDisk?.image) seen.images.add(v.containerDisk.image);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();

    const failedWith = async (digest: string, words: RegExp): Promise<void> => {
      const s = await waitForImage('signed', `the version of ${digest} Failed`, (x) => x.versions?.some((v) => v.digest === digest && v.phase === 'Failed') ?? false);
      const v = s.versions!.find((x) => x.digest === digest)!;
      expect(v.message).toMatch(words);
      expect(s.conditions?.find((x) => x.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'SignatureInvalid' });
      expect(s.latestVersion).toBe(goodVersion.name);
      expect(s.channels?.[0]?.version).toBe(goodVersion.name);
    };
    try {
      const unsigned = await publish(2, async () => undefined);
      await failedWith(unsigned, new RegExp(`^signature check failed: no signature: .* has no tag sha256-${unsigned.slice(7)}\\.sig$`));
      const wrongKey = await publish(3, (d) => signImage(registry(), repository, d, theirs));
      await failedWith(wrongKey, new RegExp(`^signature check failed: signed by none of the 2 configured keys \\(from Secret ${c.namespace}/signing-keys\\)$`));
      const misdirected = await publish(4, (d) => signImage(registry(), repository, d, ours, { payloadDigest: good }));
      await failedWith(misdirected, new RegExp(`^signature check failed: the signature payload names ${good}, not ${misdirected}$`));

      // Events are written after the status, without waiting for them.
      const warnings = await waitFor('three SignatureInvalid Warnings', async () => {
        const events = await c.client.list<CoreV1Event>(RESOURCES.event, { namespace: c.namespace });
        const found = events.items.filter((e) => e.involvedObject?.name === 'signed' && e.reason === 'SignatureInvalid');
        return found.length >= 3 ? found : undefined;
      }, 10_000, 100);
      expect(warnings.map((e) => e.type)).toEqual(['Warning', 'Warning', 'Warning']);
      // Give the fleet a moment to (wrongly) move if it ever would.
      await new Promise((r) => setTimeout(r, 2_000));
    } finally {
      sampling = false;
      await sampler;
    }
    expect([...seen.channel]).toEqual([goodVersion.name]);
    expect([...seen.images]).toEqual([`${registry().host}/${repository}@${good}`]);
    const fleet = (await c.client.get<VMFleet>(RESOURCES.vmFleet, { namespace: c.namespace, name: 'web' }))?.status;
    expect(fleet).toMatchObject({ imageVersion: goodVersion.name, readyReplicas: 2 });
    await c.client.delete(RESOURCES.vmFleet, { namespace: c.namespace, name: 'web' });
  }, 240_000);

  it('keys from a ConfigMap; a missing keys object makes the image Stalled and the version wait, then the key arriving makes it Ready', async () => {
    const repository = `disks/keys-${randomBytes(3).toString('hex')}`;
    const key = generateSigningKey();
    const digest = await pushContainerDisk(registry(), repository, 'latest', { seed: 'signatures-cm' });
    await signImage(registry(), repository, digest, key);
    await c.client.create(RESOURCES.goldenImage, verifiedImage('cm-keys', repository, { configMapRef: { name: 'cm-keys', key: 'keys.pem' } }));
    const waiting = await waitForImage('cm-keys', 'Stalled PublicKeysNotFound', (s) => s.conditions?.some((x) => x.type === 'Stalled' && x.reason === 'PublicKeysNotFound') ?? false);
    expect(waiting.versions?.[0]).toMatchObject({ phase: 'Discovered', message: `waiting to verify the signature: ConfigMap ${c.namespace}/cm-keys not found` });
    await c.client.create(RESOURCES.configMap, { metadata: { name: 'cm-keys', namespace: c.namespace }, data: { 'keys.pem': key.publicKeyPEM } });
    // The first retry comes 10 s after the first look.
    await waitForImage('cm-keys', 'Ready once the key exists', (s) => s.versions?.[0]?.phase === 'Ready' && s.conditions?.find((x) => x.type === 'Ready')?.status === 'True', 45_000);
  }, 90_000);
});
