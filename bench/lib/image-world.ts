// What the GoldenImage benchmarks share: a registry of their own (docker-registry, TLS, htpasswd),
// a control plane on loopback with VirtFleet's, KubeVirt's and CDI's CRDs, the benchmark's
// namespace, the pull Secret and CA ConfigMap an image names, a polling wait bounded in time, and
// clean-up in reverse order of start.
import { KubeClient } from '../../controller/kube/client.ts';
import { RESOURCES } from '../../controller/kube/resources.ts';
import { ensureAssets } from '../../controller/local/assets.ts';
import { ControlPlane } from '../../controller/local/control-plane.ts';
import { installCrds } from '../../controller/local/install-crds.ts';
import { CRD_DIRS } from '../../controller/cli/local.ts';
import { dockerConfigJSON, startRegistry, type RegistryAccess, type TestRegistry } from '../../test/harness/registry.ts';

/** Things to stop, stopped last-started first; a failing stop is reported and the rest still run. */
export class Cleanup {
  private readonly stops: (() => Promise<unknown>)[] = [];

  add(stop: () => Promise<unknown>): void {
    this.stops.unshift(stop);
  }

  async run(): Promise<void> {
    for (const stop of this.stops.splice(0)) await stop().catch((err: unknown) => console.error('cleanup failed', err));
  }
}

export interface ImageWorld {
  registry: TestRegistry;
  plane: ControlPlane;
  client: KubeClient;
  namespace: string;
}

/** Starts the registry and the control plane (both registered with `cleanup`) and creates the namespace. */
export async function startImageWorld(namespace: string, cleanup: Cleanup): Promise<ImageWorld> {
  const registry = await startRegistry({ auth: true });
  cleanup.add(() => registry.stop());
  const plane = await ControlPlane.start({ assets: await ensureAssets() });
  cleanup.add(() => plane.stop());
  await installCrds(plane.kubeConfig(), CRD_DIRS);
  const client = new KubeClient(plane.kubeConfig(), { qps: 0 });
  await client.create(RESOURCES.namespace, { metadata: { name: namespace } });
  return { registry, plane, client, namespace };
}

/** The pull Secret `pull` and CA ConfigMap `registry-ca` (key ca.crt) a GoldenImage names to reach `access.host`. */
export async function createRegistryAccess(client: KubeClient, namespace: string, access: Pick<RegistryAccess, 'host' | 'username' | 'password'>, caPEM: string): Promise<{ pullSecretRef: { name: string }; caConfigMapRef: { name: string; key: string } }> {
  await client.create(RESOURCES.secret, { metadata: { name: 'pull', namespace }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from(dockerConfigJSON(access)).toString('base64') } });
  await client.create(RESOURCES.configMap, { metadata: { name: 'registry-ca', namespace }, data: { 'ca.crt': caPEM } });
  return { pullSecretRef: { name: 'pull' }, caConfigMapRef: { name: 'registry-ca', key: 'ca.crt' } };
}

/** Polls `probe` every `intervalMs` until it returns a value; the value and when it first came (performance.now()). */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 20): Promise<{ value: T; at: number }> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return { value, at: performance.now() };
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
