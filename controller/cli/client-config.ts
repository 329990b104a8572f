// Which cluster a command talks to, and the one-line errors of a bad invocation. Kept apart from
// run.ts so that plan, status and shell completion load it without the whole controller.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ClientConfig } from '../kube/kubeconfig.ts';

/** A problem with how `run` was invoked or configured: reported in one line, exit code 2. */
export class UsageError extends Error {}

/** Where the ServiceAccount's token and CA are mounted in a pod (client-go's rest.InClusterConfig). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The client config, in controller-runtime's order: --kubeconfig, KUBECONFIG, the in-cluster
 * config when KUBERNETES_SERVICE_HOST is set, ~/.kube/config. Throws a UsageError when none is
 * there or the one found cannot be used.
 */
export function loadClientConfig(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): { kc: ClientConfig; source: string } {
  const kc = new ClientConfig();
  const fromFile = (path: string, what: string) => {
    if (!existsSync(path)) throw new UsageError(`${what} ${path} does not exist`);
    try {
      kc.loadFromFile(path);
    } catch (err) {
      throw new UsageError(`${what} ${path} cannot be read: ${(err as Error).message.split('\n')[0]}`);
    }
    return usable(kc, `${what} ${path}`);
  };
  if (flag) return fromFile(flag, '--kubeconfig');
  if (env.KUBECONFIG) {
    const path = env.KUBECONFIG.split(':').find((p) => p && existsSync(p));
    if (!path) throw new UsageError(`KUBECONFIG=${env.KUBECONFIG} names no file that exists`);
    return fromFile(path, 'KUBECONFIG');
  }
  if (env.KUBERNETES_SERVICE_HOST) {
    const token = join(SERVICE_ACCOUNT_DIR, 'token');
    if (!existsSync(token)) throw new UsageError(`in a cluster (KUBERNETES_SERVICE_HOST is set) but no ServiceAccount token at ${token}: mount one, or pass --kubeconfig`);
    kc.loadFromCluster(SERVICE_ACCOUNT_DIR, env);
    return usable(kc, 'the in-cluster config');
  }
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return fromFile(home, 'kubeconfig');
  throw new UsageError('no cluster to run against: pass --kubeconfig, set KUBECONFIG, or run in a pod; for a local cluster use virtfleet up');
}

function usable(kc: ClientConfig, source: string): { kc: ClientConfig; source: string } {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new UsageError(`${source} has no current context with a cluster`);
  try {
    new URL(cluster.server);
  } catch {
    throw new UsageError(`${source}: cluster ${cluster.name} has no valid server URL ("${cluster.server}")`);
  }
  return { kc, source };
}
