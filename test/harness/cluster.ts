// What an integration test uses: the shared control plane's kubeconfig, a fresh namespace per
// test, the real kubectl, and small helpers over @kubernetes/client-node.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { ApiException, CoreV1Api, KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';

const run = promisify(execFile);

export function kubeConfig(): KubeConfig {
  const path = process.env.VIRTFLEET_TEST_KUBECONFIG;
  if (!path) throw new Error('VIRTFLEET_TEST_KUBECONFIG is unset: integration tests run under test/harness/global-setup.ts');
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

export function objectApi(): KubernetesObjectApi {
  return KubernetesObjectApi.makeApiClient(kubeConfig());
}

/** Creates a namespace unique to one test; delete it with the returned function. */
export async function createNamespace(prefix: string): Promise<{ name: string; remove: () => Promise<void> }> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return { name, remove: async () => void (await core.deleteNamespace({ name })) };
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real kubectl against the test control plane; never throws on a non-zero exit. */
export async function kubectl(args: string[], options: { input?: string } = {}): Promise<KubectlResult> {
  const bin = process.env.VIRTFLEET_TEST_KUBECTL;
  if (!bin) throw new Error('VIRTFLEET_TEST_KUBECTL is unset');
  const kubeconfig = process.env.VIRTFLEET_TEST_KUBECONFIG!;
  try {
    const child = run(bin, ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 16 << 20 });
    if (options.input !== undefined) {
      child.child.stdin?.end(options.input);
    }
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The API server's refusal message for creating an object, or undefined when it was accepted. */
export async function createError(object: KubernetesObject): Promise<string | undefined> {
  try {
    await objectApi().create(object);
    return undefined;
  } catch (err) {
    if (err instanceof ApiException) {
      const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
      try {
        return (JSON.parse(body) as { message: string }).message;
      } catch {
        return body;
      }
    }
    throw err;
  }
}
