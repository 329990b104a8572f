// Installs CRD manifests into a cluster with server-side apply and waits until each is
// Established, so callers can create custom resources at once; then the admission policies that
// sit beside them (the retention guard), with the namespaces their bindings' parameters live in.
// Manifests go out as raw JSON: client-node's typed serializer would drop schema keys such as
// x-kubernetes-int-or-string.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { KubeClient, type ObjectLike } from '../kube/client.ts';
import { RESOURCES } from '../kube/resources.ts';

const FIELD_MANAGER = 'virtfleet-installer';
const CRD = { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', namespaced: false } as const;

interface CrdStatus extends ObjectLike {
  status?: { conditions?: { type: string; status: string }[] };
}

const POLICY = { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'ValidatingAdmissionPolicy', plural: 'validatingadmissionpolicies', namespaced: false } as const;
const BINDING = { ...POLICY, kind: 'ValidatingAdmissionPolicyBinding', plural: 'validatingadmissionpolicybindings' } as const;

function readManifests(dir: string): ObjectLike[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as ObjectLike));
}

export function readCrdManifests(dir: string): ObjectLike[] {
  return readManifests(dir).filter((o) => o?.kind === 'CustomResourceDefinition');
}

export async function installCrds(kc: KubeConfig, dirs: string[], timeoutMs = 60_000): Promise<string[]> {
  const client = new KubeClient(kc, { qps: 0 });
  const crds = dirs.flatMap(readCrdManifests);
  await Promise.all(crds.map((crd) => client.apply(CRD, crd, FIELD_MANAGER)));
  const names = crds.map((c) => c.metadata!.name!);
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = await client.get<CrdStatus>(CRD, { name });
      if (crd?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const manifests = dirs.flatMap(readManifests);
  const policies = manifests.filter((o) => o?.kind === POLICY.kind);
  const bindings = manifests.filter((o) => o?.kind === BINDING.kind) as (ObjectLike & { spec?: { paramRef?: { namespace?: string } } })[];
  const namespaces = new Set(bindings.map((b) => b.spec?.paramRef?.namespace).filter((n): n is string => !!n));
  await Promise.all([...namespaces].map((name) => client.apply(RESOURCES.namespace, { metadata: { name } }, FIELD_MANAGER)));
  await Promise.all(policies.map((p) => client.apply(POLICY, p, FIELD_MANAGER)));
  await Promise.all(bindings.map((b) => client.apply(BINDING, b, FIELD_MANAGER)));
  return names;
}
