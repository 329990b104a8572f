// The real kube-controller-manager, run against a local ControlPlane with only the controllers a
// benchmark names: a baseline for how many API-server writes upstream controllers make. It
// listens on 127.0.0.1 only (its secure port, for /healthz) and dies with its parent.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiError, KubeClient, type ObjectLike } from '../../controller/kube/client.ts';
import { pathOf, RESOURCES, type Resource } from '../../controller/kube/resources.ts';
import { buildTools, conventionalPath } from '../../controller/local/assets.ts';
import type { ControlPlane } from '../../controller/local/control-plane.ts';
import { freePort } from '../../controller/local/ports.ts';
import { httpsGet } from '../../controller/local/https-get.ts';
import { startProcess, startWatchdog, stopProcess } from '../../controller/local/processes.ts';
import { API_SERVER_BACKGROUND, apiServerMetrics, diffWrites, parseWrites, type WriteCounts } from './apiserver-writes.ts';
import { watchUntil } from './watch-until.ts';

export interface ControllerManagerOptions {
  /** Client-side rate limit of each of its API clients (--kube-api-qps, --kube-api-burst). */
  qps: number;
  burst: number;
  /** Controller names for --controllers, e.g. ['replicaset']. */
  controllers: string[];
  startTimeoutMs?: number;
}

export interface ControllerManager {
  readonly pid: number;
  readonly logFile: string;
  stop(): Promise<void>;
}

const TOOL = 'kube-controller-manager';

/** The binary: TEST_ASSET_KUBE_CONTROLLER_MANAGER, KUBEBUILDER_ASSETS, or hack/build-tools.sh's cache. */
export async function controllerManagerBinary(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return conventionalPath(TOOL, env) ?? (await buildTools([TOOL]))[0]!;
}

export async function startControllerManager(plane: ControlPlane, options: ControllerManagerOptions): Promise<ControllerManager> {
  const binary = await controllerManagerBinary();
  const certDir = join(plane.dir, TOOL);
  await mkdir(certDir, { recursive: true });
  const logFile = join(plane.dir, `${TOOL}.log`);
  const port = await freePort();
  const proc = startProcess(TOOL, binary, [
    `--kubeconfig=${plane.kubeconfigPath}`,
    `--controllers=${options.controllers.join(',')}`,
    '--leader-elect=false',
    `--kube-api-qps=${options.qps}`,
    `--kube-api-burst=${options.burst}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    // Self-signed serving certificate, written here rather than in the working directory.
    `--cert-dir=${certDir}`,
  ], logFile);
  const dismissWatchdog = startWatchdog([proc.child.pid!], plane.dir);
  const kcm: ControllerManager = {
    pid: proc.child.pid!,
    logFile,
    async stop() {
      await stopProcess(proc);
      dismissWatchdog();
    },
  };
  try {
    await waitHealthy(port, () => proc.child.exitCode, logFile, options.startTimeoutMs ?? 60_000);
  } catch (err) {
    await kcm.stop();
    throw err;
  }
  return kcm;
}

async function waitHealthy(port: number, exitCode: () => number | null, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not started';
  for (;;) {
    if (exitCode() !== null) throw new Error(`${TOOL} exited with code ${exitCode()}; see ${logFile}`);
    try {
      const res = await get(port, '/healthz');
      if (res.status === 200) return;
      last = `${res.status} ${res.body.slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${TOOL} not healthy after ${timeoutMs} ms: ${last}; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// Its serving certificate is self-signed; /healthz is in --authorization-always-allow-paths.
const get = (port: number, path: string) => httpsGet(`https://127.0.0.1:${port}${path}`, { rejectUnauthorized: false, timeout: 2_000 });

const REPLICA_SET: Resource = { group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', namespaced: true };
const SERVICE_ACCOUNT: Resource = { group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true };
const POD: Resource = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };

interface ReplicaSetLike extends ObjectLike {
  metadata?: ObjectLike['metadata'] & { generation?: number };
  spec?: { replicas?: number; [field: string]: unknown };
  status?: { replicas?: number; observedGeneration?: number };
}

export interface ScaleReplicaSetOptions {
  namespace: string;
  replicas: number;
  /** kube-controller-manager's client rate limit. */
  qps: number;
  burst: number;
  /** ReplicaSet name (default bench-rs). */
  name?: string;
  timeoutMs?: number;
  /**
   * Keep counting writes this long after status.replicas reaches `replicas` (default 0), for the
   * Events kube-controller-manager's event broadcaster still sends; ms is not affected.
   */
  settleMs?: number;
  /** Delete the ReplicaSet and its pods afterwards (default true); not part of the measurement. */
  cleanup?: boolean;
}

export interface ScaleReplicaSetResult {
  /** From the scale request until the API server reports status.replicas == replicas. */
  ms: number;
  /**
   * API-server writes in that interval, less the benchmark's own scale request and the API
   * server's own background writes (API_SERVER_BACKGROUND, reported in backgroundWrites).
   */
  writes: number;
  writesByResource: Record<string, number>;
  writesByVerb: Record<string, number>;
  /** The API server's own Lease and Endpoints writes in the interval, left out of writes. */
  backgroundWrites: Record<string, number>;
}

/**
 * Baseline: how fast and with how many API writes the upstream ReplicaSet controller scales a
 * ReplicaSet from 0 to `replicas` pods. Pods stay Pending (no scheduler runs), which is enough:
 * status.replicas counts created pods.
 */
export async function scaleReplicaSet(plane: ControlPlane, options: ScaleReplicaSetOptions): Promise<ScaleReplicaSetResult> {
  const { namespace, replicas } = options;
  const name = options.name ?? 'bench-rs';
  const client = new KubeClient(plane.kubeConfig(), { qps: 0 });
  await ignoreExists(client.create(RESOURCES.namespace, { metadata: { name: namespace } }));
  // No serviceaccount controller runs: if the ServiceAccount admission plugin is enabled it
  // refuses pods in a namespace without a `default` ServiceAccount, so create it.
  await ignoreExists(client.create(SERVICE_ACCOUNT, { metadata: { name: 'default', namespace } }));

  const kcm = await startControllerManager(plane, { qps: options.qps, burst: options.burst, controllers: ['replicaset'] });
  try {
    const labels = { app: name };
    const created = await client.create<ReplicaSetLike>(REPLICA_SET, {
      metadata: { name, namespace },
      spec: {
        replicas: 0,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            terminationGracePeriodSeconds: 0,
            containers: [{ name: 'pause', image: 'registry.invalid/pause:1' }],
          },
        },
      },
    });
    const ref = { namespace, name };
    // The controller has seen the ReplicaSet (its informers have synced) once it reports the generation.
    await pollReplicaSet(client, ref, 30_000, (rs) => (rs.status?.observedGeneration ?? 0) >= (created.metadata?.generation ?? 1), 'observedGeneration');

    const timeoutMs = options.timeoutMs ?? 120_000 + (replicas / Math.max(options.qps, 1)) * 3_000;
    const scaled = await watchUntil<ReplicaSetLike>(plane.kubeConfig(), client, REPLICA_SET, ref, (rs) => rs.status?.replicas === replicas, timeoutMs, `status.replicas == ${replicas}`);
    const before = await apiServerMetrics(client.http);
    const started = performance.now();
    await client.mergePatch(REPLICA_SET, ref, { spec: { replicas } }, 'scale');
    const ms = (await scaled.met).at - started;
    if (options.settleMs) await new Promise((r) => setTimeout(r, options.settleMs));
    const after = await apiServerMetrics(client.http);

    const writes = (metrics: string): WriteCounts => parseWrites(metrics, { excludeResources: API_SERVER_BACKGROUND });
    const background = (metrics: string): WriteCounts => parseWrites(metrics, { resources: API_SERVER_BACKGROUND });
    const diff = diffWrites(writes(before), writes(after));
    // Our own write: the PATCH of replicasets/scale.
    diff.total -= 1;
    for (const [map, key] of [[diff.byResource, 'replicasets/scale'], [diff.byVerb, 'PATCH']] as const) {
      map[key] = (map[key] ?? 0) - 1;
      if (map[key] === 0) delete map[key];
    }
    return { ms, writes: diff.total, writesByResource: diff.byResource, writesByVerb: diff.byVerb, backgroundWrites: diffWrites(background(before), background(after)).byResource };
  } finally {
    await kcm.stop();
    if (options.cleanup ?? true) {
      // No garbage collector runs, so delete the pods as well as their ReplicaSet. Pods never
      // bound to a node are deleted at once, without a grace period; a DELETE of 10,000 of them
      // may outlast the client's 30-s default timeout.
      await client.delete(REPLICA_SET, { namespace, name });
      await client.http.request('DELETE', `${pathOf(POD, namespace)}?labelSelector=${encodeURIComponent(`app=${name}`)}`, undefined, undefined, { timeoutMs: 600_000 });
    }
  }
}

async function pollReplicaSet(client: KubeClient, ref: { namespace: string; name: string }, timeoutMs: number, done: (rs: ReplicaSetLike) => boolean, what: string): Promise<ReplicaSetLike> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rs = await client.get<ReplicaSetLike>(REPLICA_SET, ref);
    if (rs && done(rs)) return rs;
    if (Date.now() > deadline) throw new Error(`ReplicaSet ${ref.namespace}/${ref.name}: no ${what} after ${timeoutMs} ms (status ${JSON.stringify(rs?.status)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function ignoreExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof ApiError && err.alreadyExists)) throw err;
  }
}
