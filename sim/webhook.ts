// virt-api's validating webhook for VirtualMachineInstanceMigration creation, served on
// 127.0.0.1 and registered with the API server: a migration of a VMI that is not running, not
// LiveMigratable, or already migrating is refused at admission, as KubeVirt refuses it.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { KubeClient } from '../controller/kube/client.ts';
import { generateControlPlaneCerts } from '../controller/local/certs.ts';
import { admitMigration } from './rules/migrations.ts';
import type { World } from './world.ts';

const WEBHOOK_CONFIG = { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'ValidatingWebhookConfiguration', plural: 'validatingwebhookconfigurations', namespaced: false } as const;
/** How long an admitted migration blocks a second one before the informer has seen it. */
const ADMITTED_GRACE_MS = 30_000;

interface AdmissionReview {
  apiVersion: string;
  kind: string;
  request?: { uid: string; namespace?: string; object?: V1VirtualMachineInstanceMigration };
}

export class MigrationWebhook {
  readonly name: string;
  private readonly server: Server;
  private readonly client: KubeClient;

  private constructor(name: string, server: Server, client: KubeClient) {
    this.name = name;
    this.server = server;
    this.client = client;
  }

  /** Serves the webhook and registers it for the given namespaces (all when empty). */
  static async start(client: KubeClient, world: World, namespaces: string[]): Promise<MigrationWebhook> {
    const certs = await generateControlPlaneCerts();
    // Admitted migrations the cache may not show yet; once it has shown one, the cache speaks for it.
    const admitted = new Map<string, { name: string; at: number }>();
    world.migrations.on((_type, m) => {
      const key = `${m.metadata?.namespace}/${m.spec?.vmiName ?? ''}`;
      if (admitted.get(key)?.name === m.metadata?.name) admitted.delete(key);
    });
    const server = createServer({ cert: certs.serving.cert, key: certs.serving.key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AdmissionReview;
        const m = review.request?.object;
        const namespace = review.request?.namespace ?? m?.metadata?.namespace ?? '';
        const vmiName = m?.spec?.vmiName ?? '';
        const vmiKey = `${namespace}/${vmiName}`;
        const existing = world.migrations.list(namespace);
        const recent = admitted.get(vmiKey);
        if (recent && Date.now() - recent.at < ADMITTED_GRACE_MS && !existing.some((e) => e.metadata?.name === recent.name)) {
          existing.push({ metadata: { name: recent.name, uid: recent.name }, spec: { vmiName }, status: {} } as never);
        }
        const verdict = admitMigration(world.vmis.get(namespace, vmiName), existing.filter((e) => e.metadata?.name !== m?.metadata?.name));
        if (verdict.allowed && m?.metadata?.name) admitted.set(vmiKey, { name: m.metadata.name, at: Date.now() });
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          response: { uid: review.request?.uid, allowed: verdict.allowed, ...(verdict.allowed ? {} : { status: { code: 422, reason: 'Invalid', message: verdict.message } }) },
        }));
      });
    });
    // Idle connections stay open until the API server drops them, as virt-api's Go server keeps
    // them: Node's default closes one after 5 s, and the API server's next POST on a connection
    // closing under it fails the create with a broken pipe (a webhook call is not retried).
    server.keepAliveTimeout = 0;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const name = `virtfleet-sim-migration-${randomBytes(3).toString('hex')}`;
    await client.create(WEBHOOK_CONFIG, {
      metadata: { name, labels: { 'app.kubernetes.io/name': 'virtfleet-sim' } },
      webhooks: [
        {
          name: 'migration-create-validator.kubevirt.io',
          clientConfig: { url: `https://127.0.0.1:${port}/virtualmachineinstancemigrations-validate-create`, caBundle: Buffer.from(certs.ca.cert).toString('base64') },
          rules: [{ operations: ['CREATE'], apiGroups: ['kubevirt.io'], apiVersions: ['v1'], resources: ['virtualmachineinstancemigrations'] }],
          ...(namespaces.length > 0 ? { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: namespaces }] } } : {}),
          failurePolicy: 'Fail',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 5,
        },
      ],
    } as never);
    return new MigrationWebhook(name, server, client);
  }

  async stop(): Promise<void> {
    await this.client.delete(WEBHOOK_CONFIG, { name: this.name });
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // The API server keeps its webhook connections alive for about 90 s; close() alone waits them out.
    this.server.closeAllConnections();
    await closed;
  }
}

/** Only an API server on this machine can call a webhook served on 127.0.0.1. */
export function isLoopbackServer(server: string): boolean {
  const host = new URL(server).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host.startsWith('127.');
}
