// One look at a GoldenImage's source: the versions it offers now, or why it could not be read.
// Credentials and CA bundles are read from the image's own namespace only, fresh for each look
// (a rotated Secret is picked up without a restart). The conditional-request validators of the
// last answer are remembered per image, so a look at an unchanged source costs one HEAD (registry)
// or one GET answered 304 (checksum file).
import type { V1ConfigMap, V1PersistentVolumeClaim, V1Secret } from '@kubernetes/client-node';
import type { FoundVersion, ImageRef, ImageSpec } from '../core/image/types.ts';
import type { KubeClient } from '../kube/client.ts';
import { RESOURCES } from '../kube/resources.ts';
import { SourceError } from '../sources/errors.ts';
import type { BasicCredentials } from '../sources/http-client.ts';
import { pollChecksumFile } from '../sources/http-source.ts';
import { headManifest } from '../sources/registry.ts';
import { registryCredentials } from '../core/image/materialise.ts';

export { SourceError };

/** What the image controller remembers of an image's source between looks. */
export interface SourceMemory {
  /** metadata.generation of the spec this memory was made for; a new spec starts afresh. */
  generation: number;
  lastAt?: number;
  etag?: string;
  lastModified?: string;
  /** What the last answer said, reused when the source answers "not modified". */
  found?: FoundVersion[];
}

export interface SourceProblem {
  reason: string;
  message: string;
  /** The server asked for a pause (429 Retry-After). */
  retryAfterMs?: number;
}

export type Look = { ok: true; found: FoundVersion[]; memory: SourceMemory } | { ok: false; problem: SourceProblem; memory: SourceMemory };

export interface LookInput {
  client: KubeClient;
  image: ImageRef;
  spec: ImageSpec;
  memory: SourceMemory;
  now: number;
  timeoutMs: number;
}

/** A Secret or ConfigMap the image names cannot be read from its namespace, or is unusable. */
export class ReferenceProblem extends Error {
  readonly reason: string;

  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

async function secretOf(client: KubeClient, namespace: string, name: string, timeoutMs: number): Promise<V1Secret> {
  const secret = await client.get<V1Secret>(RESOURCES.secret, { namespace, name }, { timeoutMs });
  if (!secret) throw new ReferenceProblem('SecretNotFound', `Secret ${namespace}/${name} not found`);
  return secret;
}

/** The CA bundle a `caConfigMapRef` names, from the image's namespace. */
export async function caOf(client: KubeClient, namespace: string, ref: { name: string; key?: string } | undefined, timeoutMs: number): Promise<string | undefined> {
  if (!ref) return undefined;
  const map = await client.get<V1ConfigMap>(RESOURCES.configMap, { namespace, name: ref.name }, { timeoutMs });
  if (!map) throw new ReferenceProblem('CANotFound', `ConfigMap ${namespace}/${ref.name} not found`);
  const key = ref.key ?? 'ca.crt';
  const pem = map.data?.[key];
  if (!pem) throw new ReferenceProblem('CANotFound', `ConfigMap ${namespace}/${ref.name} has no key "${key}"`);
  return pem;
}

const decoded = (secret: V1Secret, key: string): string | undefined => {
  const value = secret.data?.[key];
  return value === undefined ? secret.stringData?.[key] : Buffer.from(value, 'base64').toString('utf8');
};

export async function pullCredentials(client: KubeClient, namespace: string, repository: string, ref: { name: string } | undefined, timeoutMs: number): Promise<BasicCredentials | undefined> {
  if (!ref) return undefined;
  const secret = await secretOf(client, namespace, ref.name, timeoutMs);
  // The same matching as for the Secret CDI's importer gets, so discovery and import agree.
  const found = registryCredentials(secret, repository);
  if (!found.ok) throw new ReferenceProblem('PullSecretUnusable', `Secret ${namespace}/${ref.name} ${found.message}`);
  return { username: found.username, password: found.password };
}

async function httpCredentials(client: KubeClient, namespace: string, ref: { name: string } | undefined, timeoutMs: number): Promise<BasicCredentials | undefined> {
  if (!ref) return undefined;
  const secret = await secretOf(client, namespace, ref.name, timeoutMs);
  const username = decoded(secret, 'accessKeyId');
  const password = decoded(secret, 'secretKey');
  if (username === undefined || password === undefined) throw new ReferenceProblem('SecretUnusable', `Secret ${namespace}/${ref.name} needs the keys accessKeyId and secretKey`);
  return { username, password };
}

/** Looks at the source once; never throws for a source problem, only reports it. */
export async function lookAtSource(input: LookInput): Promise<Look> {
  const { client, image, spec, now, timeoutMs } = input;
  const memory: SourceMemory = { ...input.memory, lastAt: now };
  try {
    const { registry, http, pvc } = spec.source;
    if (registry) {
      const credentials = await pullCredentials(client, image.namespace, registry.repository, registry.pullSecretRef, timeoutMs);
      const caPEM = await caOf(client, image.namespace, registry.caConfigMapRef, timeoutMs);
      const answer = await headManifest({
        repository: registry.repository,
        tag: registry.tag ?? 'latest',
        ...(credentials ? { credentials } : {}),
        ...(caPEM ? { caPEM } : {}),
        ...(memory.found && memory.etag ? { etag: memory.etag } : {}),
        timeoutMs,
      });
      if (answer.notModified) return { ok: true, found: memory.found ?? [], memory };
      const found: FoundVersion[] = [{ kind: 'registry', digest: answer.digest }];
      return { ok: true, found, memory: { ...memory, found, ...(answer.etag ? { etag: answer.etag } : {}) } };
    }
    if (http) {
      if (http.checksum) return { ok: true, found: [{ kind: 'http', checksum: http.checksum, url: http.url }], memory };
      const credentials = await httpCredentials(client, image.namespace, http.secretRef, timeoutMs);
      const caPEM = await caOf(client, image.namespace, http.caConfigMapRef, timeoutMs);
      const answer = await pollChecksumFile({
        checksumURL: http.checksumURL!,
        imageURL: http.url,
        ...(credentials ? { credentials } : {}),
        ...(caPEM ? { caPEM } : {}),
        ...(memory.found && memory.etag ? { etag: memory.etag } : {}),
        ...(memory.found && memory.lastModified ? { lastModified: memory.lastModified } : {}),
        timeoutMs,
      });
      if (answer.notModified) return { ok: true, found: memory.found ?? [], memory };
      const found: FoundVersion[] = [{ kind: 'http', checksum: answer.checksum, url: http.url }];
      const next: SourceMemory = { generation: memory.generation, lastAt: now, found };
      if (answer.etag) next.etag = answer.etag;
      if (answer.lastModified) next.lastModified = answer.lastModified;
      return { ok: true, found, memory: next };
    }
    if (pvc) {
      const namespace = pvc.namespace ?? image.namespace;
      const claim = await client.get<V1PersistentVolumeClaim>(RESOURCES.pvc, { namespace, name: pvc.name }, { timeoutMs });
      if (!claim?.metadata?.uid) return { ok: false, problem: { reason: 'SourceNotFound', message: `PersistentVolumeClaim ${namespace}/${pvc.name} not found` }, memory };
      return { ok: true, found: [{ kind: 'pvc', uid: claim.metadata.uid, namespace, name: pvc.name }], memory };
    }
    return { ok: false, problem: { reason: 'NoSource', message: 'spec.source sets none of registry, http or pvc' }, memory };
  } catch (err) {
    if (err instanceof SourceError) {
      return { ok: false, problem: { reason: err.reason, message: err.message, ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) }, memory };
    }
    if (err instanceof ReferenceProblem) return { ok: false, problem: { reason: err.reason, message: err.message }, memory };
    throw err;
  }
}

/**
 * Whether the registry holds `digest` (HEAD by digest): a pinned version of a ContainerDisk image
 * is Ready only once confirmed. False when the registry says it has no such manifest; a source
 * problem (unreachable, unauthorized) is reported instead.
 */
export async function confirmManifest(input: { client: KubeClient; image: ImageRef; spec: ImageSpec; digest: string; timeoutMs: number }): Promise<{ ok: true; exists: boolean } | { ok: false; problem: SourceProblem }> {
  const { client, image, spec, digest, timeoutMs } = input;
  const registry = spec.source.registry;
  if (!registry) return { ok: true, exists: false };
  try {
    const credentials = await pullCredentials(client, image.namespace, registry.repository, registry.pullSecretRef, timeoutMs);
    const caPEM = await caOf(client, image.namespace, registry.caConfigMapRef, timeoutMs);
    const answer = await headManifest({ repository: registry.repository, digest, ...(credentials ? { credentials } : {}), ...(caPEM ? { caPEM } : {}), timeoutMs });
    return { ok: true, exists: answer.notModified || answer.digest === digest };
  } catch (err) {
    if (err instanceof SourceError && (err.reason === 'TagNotFound' || err.reason === 'NotFound')) return { ok: true, exists: false };
    if (err instanceof SourceError) return { ok: false, problem: { reason: err.reason, message: err.message } };
    if (err instanceof ReferenceProblem) return { ok: false, problem: { reason: err.reason, message: err.message } };
    throw err;
  }
}
