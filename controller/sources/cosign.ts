// Cosign signatures, key-based, in cosign's legacy storage: the signatures of
// `repo@sha256:<hex>` are the layers of the image manifest at tag `sha256-<hex>.sig`; each layer
// (media type application/vnd.dev.cosign.simplesigning.v1+json) is a simple-signing payload
// naming the signed manifest digest, and its annotation dev.cosignproject.cosign/signature holds
// the base64 signature over the payload's bytes (ECDSA P-256 over SHA-256 from `cosign sign`).
// Node's crypto verifies it; no transparency log or certificate is involved. The payload checks
// and the verification are pure; fetchCosignSignatures is the registry shell (GETs through the
// registry client's auth, CA and deadline, every size bounded, every blob checked against its
// descriptor's digest).
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { SourceError } from './errors.ts';
import { errorForStatus } from './http-client.ts';
import { DEFAULT_REGISTRY_TIMEOUT_MS, MANIFEST_MEDIA_TYPES, registryGet, type RegistryRequestOptions } from './registry.ts';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';

/** A signature manifest is a few hundred bytes per signature; more than this is not one. */
export const MAX_SIGNATURE_MANIFEST_BYTES = 256 * 1024;
/** A simple-signing payload is well under 1 KiB unless `optional` carries much. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** Each `cosign sign` appends a layer; more than this many is not a signature manifest we read. */
export const MAX_SIGNATURES = 16;
/** Keys in one Secret or ConfigMap value. */
export const MAX_PUBLIC_KEYS = 16;

const DIGEST = /^sha256:([a-f0-9]{64})$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export type SignatureErrorReason = 'SignatureMissing' | 'SignatureInvalid';
/** Why a signature is invalid, for the message a person reads. */
export type SignatureFault = 'unsigned' | 'wrongKey' | 'digestMismatch' | 'malformed';

export class SignatureError extends Error {
  readonly reason: SignatureErrorReason;
  readonly fault: SignatureFault;

  constructor(fault: SignatureFault, message: string) {
    super(message);
    this.name = 'SignatureError';
    this.fault = fault;
    this.reason = fault === 'unsigned' ? 'SignatureMissing' : 'SignatureInvalid';
  }
}

/** The tag that holds the signatures of `digest` (sha256:<hex> → sha256-<hex>.sig). */
export function signatureTag(digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new SignatureError('malformed', `${JSON.stringify(digest)} is not a sha256:<64 hex> digest`);
  return `sha256-${m[1]}.sig`;
}

/** One layer of a signature manifest: where its payload is and the signature over it. */
export interface SignatureLayer {
  digest: string;
  size: number;
  /** Base64 of the DER signature; undefined when the layer has no signature annotation. */
  signature: string | undefined;
}

/** The simple-signing layers of a signature manifest (other layers are skipped); throws when it is not one. */
export function parseSignatureManifest(body: Buffer): SignatureLayer[] {
  let manifest: { layers?: unknown };
  try {
    manifest = JSON.parse(body.toString('utf8')) as typeof manifest;
  } catch {
    throw new SignatureError('malformed', 'the signature manifest is not JSON');
  }
  if (!Array.isArray(manifest?.layers)) throw new SignatureError('malformed', 'the signature manifest has no layers');
  const layers: SignatureLayer[] = [];
  for (const raw of manifest.layers as unknown[]) {
    const layer = raw as { mediaType?: unknown; digest?: unknown; size?: unknown; annotations?: Record<string, unknown> };
    if (layer?.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) continue;
    if (typeof layer.digest !== 'string' || !DIGEST.test(layer.digest)) throw new SignatureError('malformed', `a signature layer's digest is ${JSON.stringify(layer.digest)}, not sha256:<64 hex>`);
    if (typeof layer.size !== 'number' || !Number.isInteger(layer.size) || layer.size < 0) throw new SignatureError('malformed', `signature layer ${layer.digest} has no valid size`);
    const signature = layer.annotations?.[SIGNATURE_ANNOTATION];
    layers.push({ digest: layer.digest, size: layer.size, signature: typeof signature === 'string' ? signature : undefined });
  }
  if (layers.length === 0) throw new SignatureError('malformed', `the signature manifest has no ${SIMPLE_SIGNING_MEDIA_TYPE} layer`);
  if (layers.length > MAX_SIGNATURES) throw new SignatureError('malformed', `the signature manifest has ${layers.length} signatures, more than the ${MAX_SIGNATURES} read`);
  return layers;
}

export type PayloadCheck = { ok: true; dockerReference: string | undefined } | { ok: false; fault: 'digestMismatch' | 'malformed'; message: string };

/** Whether a simple-signing payload is a cosign signature payload over `digest`. */
export function checkPayload(payload: Buffer, digest: string): PayloadCheck {
  let parsed: { critical?: { type?: unknown; image?: { 'docker-manifest-digest'?: unknown }; identity?: { 'docker-reference'?: unknown } } };
  try {
    parsed = JSON.parse(payload.toString('utf8')) as typeof parsed;
  } catch {
    return { ok: false, fault: 'malformed', message: 'the signature payload is not JSON' };
  }
  const critical = parsed?.critical;
  if (typeof critical !== 'object' || critical === null) return { ok: false, fault: 'malformed', message: 'the signature payload has no "critical" section' };
  if (critical.type !== COSIGN_SIGNATURE_TYPE) return { ok: false, fault: 'malformed', message: `the signature payload's type is ${JSON.stringify(critical.type)}, not "${COSIGN_SIGNATURE_TYPE}"` };
  const signed = critical.image?.['docker-manifest-digest'];
  if (typeof signed !== 'string') return { ok: false, fault: 'malformed', message: 'the signature payload names no docker-manifest-digest' };
  if (signed !== digest) return { ok: false, fault: 'digestMismatch', message: `the signature payload names ${signed}, not ${digest}` };
  const reference = critical.identity?.['docker-reference'];
  return { ok: true, dockerReference: typeof reference === 'string' ? reference : undefined };
}

/** The public keys of a PEM value (several `PUBLIC KEY` blocks allowed), or why it holds none usable. */
export function parsePublicKeys(pem: string): { ok: true; keys: KeyObject[] } | { ok: false; message: string } {
  const blocks = pem.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? [];
  if (blocks.length === 0) return { ok: false, message: 'holds no PEM "PUBLIC KEY" block' };
  if (blocks.length > MAX_PUBLIC_KEYS) return { ok: false, message: `holds ${blocks.length} public keys, more than the ${MAX_PUBLIC_KEYS} allowed` };
  const keys: KeyObject[] = [];
  for (const [i, block] of blocks.entries()) {
    try {
      keys.push(createPublicKey(block));
    } catch (err) {
      return { ok: false, message: `public key ${i + 1} is not readable: ${(err as Error).message}` };
    }
  }
  return { ok: true, keys };
}

/** Verifies `signature` (DER, as cosign writes it) over `payload` with `key`; false for any malformed input. */
function verifiedBy(key: KeyObject, payload: Buffer, signature: Buffer): boolean {
  // Ed25519 signs the message itself; ECDSA and RSA keys sign its SHA-256, as cosign does.
  const algorithm = key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  try {
    return verify(algorithm, payload, key, signature);
  } catch {
    return false;
  }
}

export interface FetchedSignature {
  payload: Buffer;
  /** Base64 of the DER signature, from the layer annotation. */
  signature: string | undefined;
}

export interface Verified {
  /** Which of the keys verified it (index into the keys given). */
  keyIndex: number;
  dockerReference: string | undefined;
}

/**
 * The first signature that names `digest` and verifies with one of `keys`; otherwise throws a
 * SignatureError for the most telling failure: a payload over another digest, then a
 * malformed signature, then one no key verifies.
 */
export function verifySignatures(signatures: readonly FetchedSignature[], digest: string, keys: readonly KeyObject[]): Verified {
  const faults: { fault: SignatureFault; message: string }[] = [];
  for (const s of signatures) {
    const check = checkPayload(s.payload, digest);
    if (!check.ok) {
      faults.push(check);
      continue;
    }
    if (s.signature === undefined || !BASE64.test(s.signature)) {
      faults.push({ fault: 'malformed', message: `the signature annotation ${SIGNATURE_ANNOTATION} is ${s.signature === undefined ? 'missing' : 'not base64'}` });
      continue;
    }
    const der = Buffer.from(s.signature, 'base64');
    const keyIndex = keys.findIndex((key) => verifiedBy(key, s.payload, der));
    if (keyIndex >= 0) return { keyIndex, dockerReference: check.dockerReference };
    faults.push({ fault: 'wrongKey', message: `signed by none of the ${keys.length} configured key${keys.length === 1 ? '' : 's'}` });
  }
  const worst = (['digestMismatch', 'malformed', 'wrongKey'] as const).map((f) => faults.find((x) => x.fault === f)).find((x) => x !== undefined);
  if (!worst) throw new SignatureError('unsigned', 'the signature manifest holds no signature');
  throw new SignatureError(worst.fault, worst.message);
}

export interface SignatureFetchOptions extends RegistryRequestOptions {
  /** Host-qualified, without tag: registry.example:5000/containerdisks/fedora. */
  repository: string;
  /** The signed image's manifest digest. */
  digest: string;
}

/**
 * The signatures stored for `digest`: GET of the manifest at its `.sig` tag, then GET of each
 * simple-signing blob, checked against its descriptor's size and sha256. `timeoutMs` bounds
 * the whole of it. A missing tag is SignatureError SignatureMissing; registry trouble is a
 * SourceError, as for discovery.
 */
export async function fetchCosignSignatures(opts: SignatureFetchOptions): Promise<FetchedSignature[]> {
  const tag = signatureTag(opts.digest);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_REGISTRY_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const remaining = (what: string): number => {
    const ms = deadline - Date.now();
    if (ms <= 0) throw new SourceError('SourceUnreachable', `${what}: the signature was not read within ${timeoutMs} ms`);
    return ms;
  };
  const access = { ...(opts.credentials ? { credentials: opts.credentials } : {}), ...(opts.caPEM ? { caPEM: opts.caPEM } : {}) };
  const manifest = await registryGet({ ...access, repository: opts.repository, path: `manifests/${tag}`, accept: MANIFEST_MEDIA_TYPES.join(', '), maxBodyBytes: MAX_SIGNATURE_MANIFEST_BYTES, timeoutMs: remaining(tag) });
  if (manifest.status === 404) throw new SignatureError('unsigned', `no signature: ${opts.repository} has no tag ${tag}`);
  const failure = errorForStatus(manifest, `GET ${manifest.url}`);
  if (failure) throw failure;
  const layers = parseSignatureManifest(manifest.body);
  const fetched: FetchedSignature[] = [];
  for (const layer of layers) {
    if (layer.size > MAX_PAYLOAD_BYTES) throw new SignatureError('malformed', `signature layer ${layer.digest} is ${layer.size} bytes, more than the ${MAX_PAYLOAD_BYTES} read`);
    const blob = await registryGet({ ...access, repository: opts.repository, path: `blobs/${layer.digest}`, accept: `${SIMPLE_SIGNING_MEDIA_TYPE}, */*`, maxBodyBytes: MAX_PAYLOAD_BYTES, timeoutMs: remaining(layer.digest) });
    const blobFailure = errorForStatus(blob, `GET ${blob.url}`);
    if (blobFailure) throw blobFailure;
    const actual = `sha256:${createHash('sha256').update(blob.body).digest('hex')}`;
    if (actual !== layer.digest || blob.body.length !== layer.size) {
      throw new SignatureError('malformed', `signature layer ${layer.digest}: the registry sent ${blob.body.length} bytes hashing to ${actual}`);
    }
    fetched.push({ payload: blob.body, signature: layer.signature });
  }
  return fetched;
}

/** Fetches the signatures of `digest` and verifies them against `keys`; throws SignatureError or SourceError. */
export async function verifyCosignSignature(opts: SignatureFetchOptions & { keys: readonly KeyObject[] }): Promise<Verified> {
  return verifySignatures(await fetchCosignSignatures(opts), opts.digest, opts.keys);
}
