// The kubeconfig a process talks to the API server with: a kubeconfig file (or its text) or the
// in-cluster ServiceAccount config, and the TLS options and credentials each request carries. It
// keeps client-node's shapes (Cluster, User, Context, applyToHTTPSOptions), so client-node's own
// KubeConfig can stand in for it anywhere (tests and `up` pass one), but loading it does not load
// client-node: that module graph (its generated API for every Kubernetes kind) costs the
// controller process about 40 MiB of RSS, for one YAML file. The forms it leaves to client-node
// (an auth-provider plugin, a proxy-url, impersonated groups or extras) load client-node on first
// use and are served by it.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { RequestOptions as HttpsRequestOptions } from 'node:https';
import { isIPv6 } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import type { Cluster, Context, KubeConfig, User } from '@kubernetes/client-node';
import { parse } from 'yaml';

/** What the client needs of a kubeconfig; client-node's KubeConfig has it too. */
export interface KubeConfigLike {
  getCurrentCluster(): Cluster | null;
  getCurrentUser(): User | null;
  getContexts(): Context[];
  getCurrentContext(): string;
  setCurrentContext(name: string): void;
  getContextObject(name: string): Context | null;
  /** TLS material, server name and credentials for one request, taken afresh (exec plugins re-run when their credential expires). */
  applyToHTTPSOptions(opts: HttpsRequestOptions): Promise<void>;
}

/** A user of the kubeconfig, with the two fields client-node's User has no place for. */
interface KubeconfigUser extends User {
  /** `tokenFile`: read again whenever it changes (KubeHttp's TokenFile). */
  readonly tokenFile?: string;
  /** Fields only client-node serves (see the header comment), by kubeconfig key. */
  readonly delegated?: string[];
}

/** An exec plugin's ExecCredential status (client.authentication.k8s.io). */
interface ExecStatus {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
  expirationTimestamp?: string;
}

const EXEC_TIMEOUT_MS = 60_000;

type Entry<K extends string> = { name?: unknown } & { [key in K]?: Record<string, unknown> };

function entries<K extends string>(list: unknown, key: K, where: string): { name: string; body: Record<string, unknown> }[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new Error(`${where} is not a list`);
  return (list as Entry<K>[]).map((e, i) => {
    if (typeof e?.name !== 'string' || e.name === '') throw new Error(`${where}[${i}].name is missing`);
    const body = e[key];
    if (!body || typeof body !== 'object') throw new Error(`${where}[${i}].${key} is missing`);
    return { name: e.name, body };
  });
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const absolute = (root: string | undefined, file: string | undefined) => (file && root && !isAbsolute(file) ? join(root, file) : file);

/** A kubeconfig loaded without client-node; see the header comment. */
export class ClientConfig implements KubeConfigLike {
  private clusters: Cluster[] = [];
  private users: KubeconfigUser[] = [];
  private contexts: Context[] = [];
  private currentContext = '';
  /** The kubeconfig's text and directory, for client-node when a form needs it (never in-cluster). */
  private source: { text: string; dir?: string } | undefined;
  private delegate: Promise<KubeConfig> | undefined;
  private readonly execCache = new Map<string, { status: ExecStatus; expiresAt: number }>();

  /** A kubeconfig file; relative paths in it (certificates, keys) are taken from its directory, as kubectl does. */
  loadFromFile(path: string): void {
    this.loadFromString(readFileSync(path, 'utf8'), dirname(path));
  }

  loadFromString(text: string, dir?: string): void {
    const doc = (parse(text) ?? {}) as Record<string, unknown>;
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error('the kubeconfig is not a YAML mapping');
    this.clusters = entries(doc.clusters, 'cluster', 'clusters').map(({ name, body }, i) => {
      const server = str(body.server);
      if (!server) throw new Error(`clusters[${i}].cluster.server is missing`);
      const caFile = absolute(dir, str(body['certificate-authority']));
      return {
        name,
        server: server.replace(/\/$/, ''),
        skipTLSVerify: body['insecure-skip-tls-verify'] === true,
        ...(str(body['certificate-authority-data']) ? { caData: str(body['certificate-authority-data']) } : {}),
        ...(caFile ? { caFile } : {}),
        ...(str(body['tls-server-name']) ? { tlsServerName: str(body['tls-server-name']) } : {}),
        ...(str(body['proxy-url']) ? { proxyUrl: str(body['proxy-url']) } : {}),
      };
    });
    this.users = entries(doc.users, 'user', 'users').map(({ name, body }) => {
      const certFile = absolute(dir, str(body['client-certificate']));
      const keyFile = absolute(dir, str(body['client-key']));
      const tokenFile = absolute(dir, str(body.tokenFile));
      const delegated = ['auth-provider', 'as-groups', 'as-user-extra', 'as-uid'].filter((k) => body[k] !== undefined && body[k] !== null);
      return {
        name,
        ...(str(body['client-certificate-data']) ? { certData: str(body['client-certificate-data']) } : {}),
        ...(certFile ? { certFile } : {}),
        ...(str(body['client-key-data']) ? { keyData: str(body['client-key-data']) } : {}),
        ...(keyFile ? { keyFile } : {}),
        ...(str(body.token) ? { token: str(body.token) } : {}),
        ...(tokenFile ? { tokenFile } : {}),
        ...(str(body.username) ? { username: str(body.username), password: typeof body.password === 'string' ? body.password : '' } : {}),
        ...(body.exec ? { exec: body.exec } : {}),
        ...(body['auth-provider'] ? { authProvider: body['auth-provider'] } : {}),
        ...(str(body.as) ? { impersonateUser: str(body.as) } : {}),
        ...(delegated.length > 0 ? { delegated } : {}),
      };
    });
    this.contexts = entries(doc.contexts, 'context', 'contexts').map(({ name, body }, i) => {
      const cluster = str(body.cluster);
      if (!cluster) throw new Error(`contexts[${i}].context.cluster is missing`);
      return { name, cluster, user: str(body.user) as string, ...(str(body.namespace) ? { namespace: str(body.namespace) } : {}) };
    });
    this.currentContext = str(doc['current-context']) ?? '';
    this.source = { text, ...(dir ? { dir } : {}) };
  }

  /**
   * The in-cluster config (client-go's rest.InClusterConfig): KUBERNETES_SERVICE_HOST and _PORT,
   * the ServiceAccount's CA, token (re-read when the kubelet rotates it) and namespace under `dir`.
   */
  loadFromCluster(dir: string, env: NodeJS.ProcessEnv = process.env): void {
    const host = env.KUBERNETES_SERVICE_HOST ?? '';
    const port = env.KUBERNETES_SERVICE_PORT ?? '443';
    let namespace: string | undefined;
    try {
      namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim() || undefined;
    } catch {
      namespace = undefined;
    }
    this.clusters = [{ name: 'inCluster', server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`, caFile: join(dir, 'ca.crt'), skipTLSVerify: false }];
    this.users = [{ name: 'inClusterUser', tokenFile: join(dir, 'token') }];
    this.contexts = [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser', ...(namespace ? { namespace } : {}) }];
    this.currentContext = 'inClusterContext';
    this.source = undefined;
  }

  getContexts(): Context[] {
    return this.contexts;
  }

  getCurrentContext(): string {
    return this.currentContext;
  }

  setCurrentContext(name: string): void {
    this.currentContext = name;
    this.delegate = undefined;
  }

  getContextObject(name: string): Context | null {
    return this.contexts.find((c) => c.name === name) ?? null;
  }

  getCurrentCluster(): Cluster | null {
    const context = this.getContextObject(this.currentContext);
    return (context && this.clusters.find((c) => c.name === context.cluster)) ?? null;
  }

  getCurrentUser(): KubeconfigUser | null {
    const context = this.getContextObject(this.currentContext);
    return (context && this.users.find((u) => u.name === context.user)) ?? null;
  }

  async applyToHTTPSOptions(opts: HttpsRequestOptions): Promise<void> {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    if (cluster?.proxyUrl || user?.delegated) return (await this.clientNode()).applyToHTTPSOptions(opts);
    if (!user) return;
    if (cluster?.skipTLSVerify) opts.rejectUnauthorized = false;
    if (cluster?.tlsServerName) opts.servername = cluster.tlsServerName;
    const ca = fileOrData(cluster?.caFile, cluster?.caData);
    if (ca) opts.ca = ca;
    const cert = fileOrData(user.certFile, user.certData);
    if (cert) opts.cert = cert;
    const key = fileOrData(user.keyFile, user.keyData);
    if (key) opts.key = key;
    const headers = (opts.headers ??= {}) as Record<string, string>;
    if (user.impersonateUser) headers['Impersonate-User'] = user.impersonateUser;
    if (user.exec) {
      const status = await this.execCredential(user, cluster);
      if (status.clientCertificateData) opts.cert = status.clientCertificateData;
      if (status.clientKeyData) opts.key = status.clientKeyData;
      if (status.token) headers.Authorization = `Bearer ${status.token}`;
    }
    if (user.token) headers.Authorization = `Bearer ${user.token}`;
    if (user.username) opts.auth = `${user.username}:${user.password ?? ''}`;
  }

  /** The exec plugin's credential, run again once the one it gave expires (kubectl's rule). */
  private async execCredential(user: KubeconfigUser, cluster: Cluster | null): Promise<ExecStatus> {
    const cached = this.execCache.get(user.name);
    if (cached && cached.expiresAt > Date.now()) return cached.status;
    const exec = user.exec as { command?: string; args?: string[]; env?: { name: string; value: string }[]; apiVersion?: string; provideClusterInfo?: boolean };
    if (!exec.command) throw new Error(`user ${user.name}: exec has no command`);
    const dir = this.source?.dir;
    // A command with a path in it, relative, is taken from the kubeconfig's directory (client-go).
    const command = exec.command.includes('/') ? absolute(dir, exec.command)! : exec.command;
    const info = { apiVersion: exec.apiVersion ?? 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec: { interactive: false, ...(exec.provideClusterInfo && cluster ? { cluster: { server: cluster.server } } : {}) } };
    const env = { ...process.env, ...Object.fromEntries((exec.env ?? []).map((e) => [e.name, e.value])), KUBERNETES_EXEC_INFO: JSON.stringify(info) };
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(command, exec.args ?? [], { env, timeout: EXEC_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, out, stderr) => {
        if (err) reject(new Error(`user ${user.name}: exec ${exec.command} failed: ${String(stderr).trim() || err.message}`));
        else resolve(out);
      });
    });
    let status: ExecStatus;
    try {
      status = (JSON.parse(stdout) as { status?: ExecStatus }).status ?? {};
    } catch (err) {
      throw new Error(`user ${user.name}: exec ${exec.command} printed no ExecCredential: ${(err as Error).message}`);
    }
    const expiresAt = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : Infinity;
    this.execCache.set(user.name, { status, expiresAt });
    return status;
  }

  /** client-node's KubeConfig over the same source and context, loaded once, for the forms only it serves. */
  private clientNode(): Promise<KubeConfig> {
    this.delegate ??= (async () => {
      const { KubeConfig } = await import('@kubernetes/client-node');
      const kc = new KubeConfig();
      if (this.source) {
        kc.loadFromString(this.source.text);
        if (this.source.dir) kc.makePathsAbsolute(this.source.dir);
      }
      kc.setCurrentContext(this.currentContext);
      return kc;
    })();
    return this.delegate;
  }
}

function fileOrData(file: string | undefined, data: string | undefined): Buffer | undefined {
  if (file) return readFileSync(file);
  return data ? Buffer.from(data, 'base64') : undefined;
}
