// The cluster a read-only command (plan, status) talks to, chosen as kubectl chooses it:
// --kubeconfig, else KUBECONFIG, else the in-cluster config, else ~/.kube/config; --context picks
// a context; -n, else the context's namespace, else "default"; -A every namespace.
import type { KubeConfigLike } from '../kube/kubeconfig.ts';
import { ApiError, KubeClient } from '../kube/client.ts';
import { loadClientConfig, UsageError } from './client-config.ts';

export interface ClusterFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces?: boolean;
}

export interface Cluster {
  client: KubeClient;
  kc: KubeConfigLike;
  /** The namespace of -n or the context; undefined with -A. */
  namespace: string | undefined;
  /** The namespace objects without one go to (-n, the context's, or default). */
  defaultNamespace: string;
  server: string;
}

/** Each request gives up after this long: a command never hangs on a cluster that does not answer. */
const REQUEST_TIMEOUT_MS = 15_000;

/** The cluster of `flags`; `timeoutMs` shortens the request timeout (shell completion). */
export function connect(flags: ClusterFlags, options: { timeoutMs?: number } = {}): Cluster {
  const { kc } = loadClientConfig(flags.kubeconfig);
  if (flags.context) {
    if (!kc.getContexts().some((c) => c.name === flags.context)) throw new UsageError(`context "${flags.context}" is not in the kubeconfig`);
    kc.setCurrentContext(flags.context);
  }
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  const defaultNamespace = flags.namespace ?? contextNamespace ?? 'default';
  // Few requests and one person waiting: no client-side rate limit, and a short timeout.
  const client = new KubeClient(kc, { qps: 0, timeoutMs: options.timeoutMs ?? REQUEST_TIMEOUT_MS });
  return { client, kc, namespace: flags.allNamespaces ? undefined : defaultNamespace, defaultNamespace, server: kc.getCurrentCluster()?.server ?? '' };
}

/** One line for an error a user can act on: no cluster, no permission, a missing CRD. */
export function describeError(err: unknown, server: string): string {
  if (err instanceof UsageError) return err.message;
  if (err instanceof ApiError) {
    if (err.status === 401 || err.status === 403) return `the cluster at ${server} refused the request (${err.status}): ${err.message}`;
    if (err.notFound) return `${err.message} (are the virtfleet CRDs installed? kubectl apply -f crds/)`;
    return `the cluster at ${server} answered ${err.status}: ${err.message}`;
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? (err as { cause?: NodeJS.ErrnoException } | undefined)?.cause?.code;
  const text = err instanceof Error ? err.message : String(err);
  return `cannot reach the cluster at ${server}${code ? ` (${code})` : ''}: ${text.split('\n')[0]}`;
}
