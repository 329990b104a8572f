// Signs test images the way `cosign sign --key … --tlog-upload=false` does with cosign's legacy
// storage: an ECDSA P-256 key pair, the simple-signing payload over the image's manifest digest,
// its DER signature (base64) in the layer annotation dev.cosignproject.cosign/signature, and an
// OCI image manifest with that one layer pushed at the tag `sha256-<hex>.sig`. Made with Node's
// crypto and pushed through the registry's upload API (blob POST + PUT, manifest PUT) rather
// than with the cosign binary: cosign v2.6.5 builds here from the Go module proxy, but takes
// about 8.5 minutes on two cores, too long for a cold CI run. Its output has the same shape:
// a signature made by `cosign sign` verified with controller/sources/cosign.ts, and one made
// here verified with `cosign verify --key … --insecure-ignore-tlog`, when that was checked by hand.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { request } from 'node:https';
import type { RegistryAccess } from './registry.ts';

const REQUEST_TIMEOUT_MS = 30_000;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

export interface SigningKey {
  privateKey: KeyObject;
  /** The public key as `cosign generate-key-pair` writes cosign.pub (PEM, SubjectPublicKeyInfo). */
  publicKeyPEM: string;
}

export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKeyPEM: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** cosign's simple-signing payload for `repository@digest` (key order as cosign writes it). */
export function signingPayload(reference: string, digest: string): Buffer {
  return Buffer.from(JSON.stringify({ critical: { identity: { 'docker-reference': reference }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' }, optional: null }));
}

export interface SignOptions {
  /** The digest the payload names; defaults to the signed image's (set it to sign "another" image). */
  payloadDigest?: string;
}

/**
 * Signs `<registry>/<repository>@<digest>` with `key` and pushes the signature manifest to tag
 * `sha256-<hex>.sig` of the same repository (replacing any there); returns that manifest's digest.
 */
export async function signImage(registry: RegistryAccess, repository: string, digest: string, key: SigningKey, options: SignOptions = {}): Promise<string> {
  const payload = signingPayload(`${registry.host}/${repository}`, options.payloadDigest ?? digest);
  const signature = sign('sha256', payload, key.privateKey).toString('base64');
  const config = Buffer.from(JSON.stringify({ architecture: '', config: {}, created: '0001-01-01T00:00:00Z', history: [{ created: '0001-01-01T00:00:00Z' }], os: '', rootfs: { type: 'layers', diff_ids: [sha256(payload)] } }));
  await uploadBlob(registry, repository, config);
  await uploadBlob(registry, repository, payload);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, size: config.length, digest: sha256(config) },
    layers: [{ mediaType: SIMPLE_SIGNING, size: payload.length, digest: sha256(payload), annotations: { [SIGNATURE_ANNOTATION]: signature } }],
  }));
  const tag = `sha256-${digest.replace(/^sha256:/, '')}.sig`;
  const put = await call(registry, 'PUT', `/v2/${repository}/manifests/${tag}`, manifest, { 'content-type': OCI_MANIFEST });
  if (put.status !== 201) throw new Error(`PUT manifest ${repository}:${tag}: ${put.status} ${put.body}`);
  return sha256(manifest);
}

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A monolithic upload (POST, then PUT with the digest); a blob already there is left as it is. */
async function uploadBlob(registry: RegistryAccess, repository: string, data: Buffer): Promise<void> {
  const digest = sha256(data);
  if ((await call(registry, 'HEAD', `/v2/${repository}/blobs/${digest}`)).status === 200) return;
  const started = await call(registry, 'POST', `/v2/${repository}/blobs/uploads/`);
  const location = started.headers.location;
  if (started.status !== 202 || typeof location !== 'string') throw new Error(`POST blob upload to ${repository}: ${started.status} ${started.body}`);
  const target = new URL(location, `https://${registry.host}`);
  target.searchParams.set('digest', digest);
  const done = await call(registry, 'PUT', `${target.pathname}${target.search}`, data, { 'content-type': 'application/octet-stream' });
  if (done.status !== 201) throw new Error(`PUT blob ${digest} to ${repository}: ${done.status} ${done.body}`);
}

function call(registry: RegistryAccess, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const authorization = `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = request(
      `https://${registry.host}${path}`,
      { method, ca: registry.caPEM, timeout: REQUEST_TIMEOUT_MS, headers: { authorization, 'content-length': String(body?.length ?? 0), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8').slice(0, 500) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
