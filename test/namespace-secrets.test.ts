// No Secret of another namespace is read (issue 16): GoldenImages with pull secrets in two
// namespaces, the controller (a process) limited to one of them and then cluster-wide, each behind
// a loopback proxy that records every request. Each image discovers versions from the registry
// with its pull Secret, one imports with CDI (the Secret CDI reads is derived from the pull secret),
// and one in the second namespace names a Secret that exists only in the first. Asserted from the
// proxy's record: every Secret request is a GET or PATCH of one named Secret in the namespace of an
// image the controller serves, the lure's Secret is looked up only in the lure's own namespace,
// and no Secret is ever listed or watched, in a namespace or cluster-wide. On a control plane of
// this file's own, since a cluster-wide controller would act on every other test's namespace.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { GoldenImageStatus } from '../controller/api/generated/types.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { goldenImage, registryObjects } from './fixtures/fleets.ts';
import { startRunProcess } from './harness/controller-process.ts';
import { settle, startOwnControlPlane, type OwnControlPlane } from './harness/own-control-plane.ts';
import { startApiProxy, type ProxiedRequest } from './harness/proxy.ts';

const [A, B] = ['team-a', 'team-b'];
let c: OwnControlPlane;
let dir: string;

beforeAll(async () => {
  c = await startOwnControlPlane({ namespaces: [A, B], nodes: 2 });
  dir = await mkdtemp(join(tmpdir(), 'virtfleet-secrets-'));
}, 120_000);
afterAll(async () => {
  await c?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A pull Secret of the fixture registry under another name. */
async function pullSecret(namespace: string, name: string): Promise<void> {
  const [secret] = registryObjects(namespace);
  await c.client.create(RESOURCES.secret, { ...secret, metadata: { name, namespace } });
}

/** A fixture GoldenImage whose registry source uses the pull Secret `secret`. */
function imageUsing(namespace: string, name: string, secret: string, dataVolume = false) {
  const image = goldenImage(namespace, name);
  image.spec.source.registry!.pullSecretRef = { name: secret };
  if (dataVolume) image.spec.storage = { type: 'DataVolume', size: '1Gi' };
  return image;
}

/**
 * The images of one case `n`: `img-n` in both namespaces with Secret `pull-n` of its own
 * namespace, `dv-n` in A imported with CDI, and `lure-n` in B naming Secret `lure-n`, which only A holds.
 */
async function createImages(n: number): Promise<void> {
  for (const ns of [A, B]) {
    await pullSecret(ns, `pull-${n}`);
    await c.client.create(RESOURCES.goldenImage, imageUsing(ns, `img-${n}`, `pull-${n}`));
  }
  await c.client.create(RESOURCES.goldenImage, imageUsing(A, `dv-${n}`, `pull-${n}`, true));
  await pullSecret(A, `lure-${n}`);
  await c.client.create(RESOURCES.goldenImage, imageUsing(B, `lure-${n}`, `lure-${n}`));
}

interface SecretRequest { method: string; namespace?: string; name?: string; path: string; watch: boolean }
function secretRequests(requests: readonly ProxiedRequest[]): SecretRequest[] {
  return requests.filter((r) => /\/secrets(\/|\?|$)/.test(r.path)).map((r) => {
    const named = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/?]+)/.exec(r.path);
    return { method: r.method, path: r.path, watch: r.watch, ...(named ? { namespace: named[1], name: named[2] } : {}) };
  });
}
const seen = (requests: SecretRequest[], namespace: string, name: string) => requests.some((r) => r.method === 'GET' && r.namespace === namespace && r.name === name);
const imageStatus = async (namespace: string, name: string) => (await c.client.get<{ metadata?: { name?: string }; status?: GoldenImageStatus }>(RESOURCES.goldenImage, { namespace, name }))?.status;
const importing = async (n: number) => ((await imageStatus(A, `dv-${n}`))?.versions ?? []).some((v) => ['Importing', 'Ready'].includes(v.phase ?? ''));

it.each([
  { n: 1, scope: 'namespace team-a', args: ['-n', A, '--migration-budget-scope', 'namespace'], served: [A] },
  { n: 2, scope: 'cluster-wide', args: [], served: [A, B] },
])('reads only Secrets of the images\' own namespaces ($scope)', async ({ n, args, served }) => {
  const proxy = await startApiProxy(c.plane.kubeConfig(), dir);
  const controller = startRunProcess(['--kubeconfig', proxy.kubeconfigPath, ...args]);
  try {
    await createImages(n);
    // Every image it serves looked up its Secret, and the imported one went as far as CDI.
    await settle('each served image read its pull Secret and dv is importing', async () => {
      const requests = secretRequests(proxy.requests);
      return served.every((ns) => seen(requests, ns, `pull-${n}`)) && (!served.includes(B) || seen(requests, B, `lure-${n}`)) && await importing(n);
    }, 60_000, controller);

    const requests = secretRequests(proxy.requests);
    console.log(`${n} (${args.join(' ') || 'cluster-wide'}): ${proxy.requests.length} requests, Secret requests: ${[...new Set(requests.map((r) => `${r.method} ${r.path.split('?')[0]}`))].join(', ')}`);
    expect(requests.filter((r) => r.name === undefined || r.watch)).toEqual([]);
    expect(requests.filter((r) => !served.includes(r.namespace!))).toEqual([]);
    expect(requests.filter((r) => r.name === `lure-${n}` && r.namespace !== B)).toEqual([]);
    expect(requests.filter((r) => !['GET', 'PATCH'].includes(r.method))).toEqual([]);
    // The lure's image says its Secret is missing rather than borrowing A's.
    if (served.includes(B)) {
      await settle('lure reports its Secret missing', async () => JSON.stringify((await imageStatus(B, `lure-${n}`))?.conditions ?? []).includes(`lure-${n}`), 30_000, controller,
        async () => JSON.stringify(await imageStatus(B, `lure-${n}`)));
    }
  } finally {
    await controller.stop();
    await proxy.close();
  }
}, 150_000);
