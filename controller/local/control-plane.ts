// A real etcd and kube-apiserver on 127.0.0.1, started from binaries, as controller-runtime's
// envtest does: for tests, benchmarks and `virtfleet up`. Nothing listens beyond loopback and
// nothing survives stop(): processes are killed and the temporary directory removed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { ControlPlaneAssets } from './assets.ts';
import { generateControlPlaneCerts } from './certs.ts';
import { freePort } from './ports.ts';
import { httpsGet } from './https-get.ts';
import { startProcess, startWatchdog, stopProcess, type ManagedProcess } from './processes.ts';

export interface ControlPlaneOptions {
  assets: ControlPlaneAssets;
  /** Extra kube-apiserver flags, for example feature gates. */
  apiServerFlags?: string[];
  startTimeoutMs?: number;
}

export class ControlPlane {
  readonly dir: string;
  readonly apiServerURL: string;
  readonly kubeconfigPath: string;
  private readonly processes: ManagedProcess[];
  private readonly dismissWatchdogs: (() => void)[];
  /** How each process was started, so that restart() starts it again the same way (same data dir, ports). */
  private readonly commands = new Map<string, { command: string; args: string[] }>();

  private constructor(dir: string, apiServerURL: string, processes: ManagedProcess[], dismissWatchdog: () => void) {
    this.dir = dir;
    this.apiServerURL = apiServerURL;
    this.kubeconfigPath = join(dir, 'kubeconfig');
    this.processes = processes;
    this.dismissWatchdogs = [dismissWatchdog];
  }

  /**
   * Kills kube-apiserver or etcd (SIGKILL by default: a crash) and starts it again with the same
   * flags, so on the same etcd data and the same ports; resolves once the API server is ready again.
   * For fault tests: clients see connections refused meanwhile and then a server with the same data.
   * `downForMs` keeps it dead that long before starting it again (an outage longer than a restart).
   */
  async restart(name: 'kube-apiserver' | 'etcd', signal: NodeJS.Signals = 'SIGKILL', downForMs = 0): Promise<void> {
    const index = this.processes.findIndex((p) => p.name === name);
    const spec = this.commands.get(name);
    if (index < 0 || !spec) throw new Error(`no ${name} to restart`);
    const old = this.processes[index]!;
    if (old.child.pid !== undefined) {
      try {
        process.kill(-old.child.pid, signal);
      } catch {
        // already gone
      }
    }
    await old.exited;
    if (downForMs > 0) await new Promise((r) => setTimeout(r, downForMs));
    const fresh = startProcess(name, spec.command, spec.args, join(this.dir, `${name}.log`));
    this.processes[index] = fresh;
    // The first watchdog knows only the first pids.
    this.dismissWatchdogs.push(startWatchdog([fresh.child.pid!], this.dir));
    await this.waitReady(90_000);
  }

  get pids(): number[] {
    return this.processes.map((p) => p.child.pid).filter((pid): pid is number => pid !== undefined);
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  static async start(options: ControlPlaneOptions): Promise<ControlPlane> {
    const dir = await mkdtemp(join(tmpdir(), 'virtfleet-cp-'));
    const processes: ManagedProcess[] = [];
    try {
      const certs = await generateControlPlaneCerts();
      const files = {
        caCert: join(dir, 'ca.crt'),
        servingCert: join(dir, 'apiserver.crt'),
        servingKey: join(dir, 'apiserver.key'),
        saKey: join(dir, 'sa.key'),
        saPub: join(dir, 'sa.pub'),
      };
      await Promise.all([
        writeFile(files.caCert, certs.ca.cert),
        writeFile(files.servingCert, certs.serving.cert),
        writeFile(files.servingKey, certs.serving.key, { mode: 0o600 }),
        writeFile(files.saKey, certs.serviceAccount.key, { mode: 0o600 }),
        writeFile(files.saPub, certs.serviceAccount.pub),
      ]);

      const [etcdClient, etcdPeer, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
      const etcdURL = `http://127.0.0.1:${etcdClient}`;
      const peerURL = `http://127.0.0.1:${etcdPeer}`;
      const etcdArgs = [
        '--name=default',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdURL}`,
        `--advertise-client-urls=${etcdURL}`,
        `--listen-peer-urls=${peerURL}`,
        `--initial-advertise-peer-urls=${peerURL}`,
        `--initial-cluster=default=${peerURL}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ];
      processes.push(startProcess('etcd', options.assets.etcd, etcdArgs, join(dir, 'etcd.log')));

      const apiServerURL = `https://127.0.0.1:${apiPort}`;
      const apiServerArgs = [
        `--etcd-servers=${etcdURL}`,
        `--cert-dir=${dir}`,
        `--tls-cert-file=${files.servingCert}`,
        `--tls-private-key-file=${files.servingKey}`,
        `--client-ca-file=${files.caCert}`,
        `--secure-port=${apiPort}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--service-account-issuer=${apiServerURL}/`,
        `--service-account-key-file=${files.saPub}`,
        `--service-account-signing-key-file=${files.saKey}`,
        '--authorization-mode=RBAC',
        '--service-cluster-ip-range=10.0.0.0/24',
        '--allow-privileged=true',
        '--disable-admission-plugins=ServiceAccount',
        ...(options.apiServerFlags ?? []),
      ];
      processes.push(startProcess('kube-apiserver', options.assets.kubeApiServer, apiServerArgs, join(dir, 'kube-apiserver.log')));

      const dismissWatchdog = startWatchdog(processes.map((p) => p.child.pid!), dir);
      const plane = new ControlPlane(dir, apiServerURL, processes, dismissWatchdog);
      plane.commands.set('etcd', { command: options.assets.etcd, args: etcdArgs });
      plane.commands.set('kube-apiserver', { command: options.assets.kubeApiServer, args: apiServerArgs });
      await writeFile(plane.kubeconfigPath, kubeconfigYaml(apiServerURL, certs.ca.cert, certs.admin.cert, certs.admin.key), { mode: 0o600 });
      await plane.waitReady(options.startTimeoutMs ?? 90_000);
      return plane;
    } catch (err) {
      await Promise.all(processes.map((p) => stopProcess(p, 2_000)));
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Stops kube-apiserver, then etcd, and removes every file the control plane wrote. */
  async stop(): Promise<void> {
    for (const p of [...this.processes].reverse()) await stopProcess(p);
    for (const dismiss of this.dismissWatchdogs) dismiss();
    await rm(this.dir, { recursive: true, force: true });
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'not started';
    for (;;) {
      for (const p of this.processes) {
        if (p.child.exitCode !== null) throw new Error(`${p.name} exited with code ${p.child.exitCode}; see ${this.dir}/${p.name}.log`);
      }
      try {
        // /readyz covers etcd and the post-start hooks; the default namespace is created after.
        const readyz = await this.get('/readyz');
        const ns = readyz.status === 200 ? await this.get('/api/v1/namespaces/default') : readyz;
        if (ns.status === 200) return;
        last = `${ns.status} ${ns.body.slice(0, 200)}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`kube-apiserver not ready after ${timeoutMs} ms: ${last}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private get(path: string): Promise<{ status: number; body: string }> {
    const kc = this.kubeConfig();
    const user = kc.getCurrentUser()!;
    const cluster = kc.getCurrentCluster()!;
    return httpsGet(`${this.apiServerURL}${path}`, {
      ca: Buffer.from(cluster.caData!, 'base64'),
      cert: Buffer.from(user.certData!, 'base64'),
      key: Buffer.from(user.keyData!, 'base64'),
    });
  }
}

function kubeconfigYaml(server: string, ca: string, cert: string, key: string): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'virtfleet-local', cluster: { server, 'certificate-authority-data': b64(ca) } }],
    users: [{ name: 'admin', user: { 'client-certificate-data': b64(cert), 'client-key-data': b64(key) } }],
    contexts: [{ name: 'virtfleet-local', context: { cluster: 'virtfleet-local', user: 'admin' } }],
    'current-context': 'virtfleet-local',
  });
}
