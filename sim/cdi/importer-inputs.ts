// What CDI's importer pod mounts for an http source: the `certConfigMap` as a directory of CA
// certificates, and the `secretRef` Secret's accessKeyId and secretKey as environment variables.
// A missing ConfigMap keeps the pod in ContainerCreating (the kubelet cannot mount it); a missing
// Secret or key is a CreateContainerConfigError, in the kubelet's words.
import type { KubeClient } from '../../controller/kube/client.ts';
import { RESOURCES } from '../../controller/kube/resources.ts';
import type { PodInputs } from './http-import.ts';
import type { LiveHttpImport } from './http-source.ts';

interface ConfigMapLike { data?: Record<string, string> }
interface SecretLike { data?: Record<string, string> }

export async function importerInputs(client: KubeClient, namespace: string, source: LiveHttpImport, signal: AbortSignal): Promise<PodInputs> {
  let ca: string[] | undefined;
  if (source.certConfigMap) {
    const cm = await client.get<ConfigMapLike & { metadata?: { name?: string } }>(RESOURCES.configMap, { namespace, name: source.certConfigMap }, { signal });
    if (!cm) return { ok: false, reason: 'ContainerCreating', message: `MountVolume.SetUp failed for volume "cdi-cert-vol" : configmap "${source.certConfigMap}" not found` };
    ca = Object.values(cm.data ?? {});
  }
  let auth: { username: string; password: string } | undefined;
  if (source.secretRef) {
    const secret = await client.get<SecretLike & { metadata?: { name?: string } }>(RESOURCES.secret, { namespace, name: source.secretRef }, { signal });
    if (!secret) return { ok: false, reason: 'CreateContainerConfigError', message: `secret "${source.secretRef}" not found` };
    const value = (key: string) => (secret.data?.[key] === undefined ? undefined : Buffer.from(secret.data[key], 'base64').toString('utf8'));
    const username = value('accessKeyId');
    const password = value('secretKey');
    if (username === undefined) return { ok: false, reason: 'CreateContainerConfigError', message: `couldn't find key accessKeyId in Secret ${namespace}/${source.secretRef}` };
    if (password === undefined) return { ok: false, reason: 'CreateContainerConfigError', message: `couldn't find key secretKey in Secret ${namespace}/${source.secretRef}` };
    auth = { username, password };
  }
  return { ok: true, ...(ca ? { ca } : {}), ...(auth ? { auth } : {}) };
}
