import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { generateControlPlaneCerts, type ControlPlaneCerts } from '../local/certs.ts';
import {
  checkPayload,
  COSIGN_SIGNATURE_TYPE,
  fetchCosignSignatures,
  MAX_SIGNATURES,
  parsePublicKeys,
  parseSignatureManifest,
  SIGNATURE_ANNOTATION,
  SignatureError,
  signatureTag,
  SIMPLE_SIGNING_MEDIA_TYPE,
  verifyCosignSignature,
  verifySignatures,
  type FetchedSignature,
} from './cosign.ts';
import { closeSourceConnections } from './http-client.ts';
import { failure, startLoopbackServer, type LoopbackServer } from './test-servers.ts';

const hex = fc.stringMatching(/^[a-f0-9]{64}$/);
const digestOf = (h: string) => `sha256:${h}`;
const DIGEST = digestOf('ab'.repeat(32));
const OTHER_DIGEST = digestOf('cd'.repeat(32));

/** The payload `cosign sign` writes for `digest`. */
const payloadFor = (digest: string, reference = '127.0.0.1:5000/containerdisks/fedora') =>
  Buffer.from(JSON.stringify({ critical: { identity: { 'docker-reference': reference }, image: { 'docker-manifest-digest': digest }, type: COSIGN_SIGNATURE_TYPE }, optional: null }));

const keyPair = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
const signed = (payload: Buffer, privateKey: KeyObject): FetchedSignature => ({ payload, signature: sign('sha256', payload, privateKey).toString('base64') });

async function signatureError(p: Promise<unknown> | (() => unknown)): Promise<SignatureError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    if (err instanceof SignatureError) return err;
    throw err;
  }
  throw new Error('expected a SignatureError, the call succeeded');
}

describe('signatureTag', () => {
  it('is sha256-<hex>.sig for every digest', () => {
    fc.assert(fc.property(hex, (h) => signatureTag(digestOf(h)) === `sha256-${h}.sig`));
  });

  it('refuses what is not a sha256 digest', async () => {
    expect((await signatureError(() => signatureTag('sha256:xyz'))).reason).toBe('SignatureInvalid');
  });
});

describe('checkPayload', () => {
  it('accepts a payload over the digest and names the reference; another digest is a mismatch', () => {
    fc.assert(
      fc.property(hex, hex, (a, b) => {
        const check = checkPayload(payloadFor(digestOf(a)), digestOf(b));
        if (a === b) return check.ok && check.dockerReference === '127.0.0.1:5000/containerdisks/fedora';
        return !check.ok && check.fault === 'digestMismatch' && check.message.includes(digestOf(a));
      }),
    );
  });

  it.each([
    ['not JSON', Buffer.from('{')],
    ['no critical section', Buffer.from('{"optional":{}}')],
    ['another type', Buffer.from(JSON.stringify({ critical: { type: 'atomic container signature', image: { 'docker-manifest-digest': DIGEST } } }))],
    ['no digest', Buffer.from(JSON.stringify({ critical: { type: COSIGN_SIGNATURE_TYPE, image: {} } }))],
  ])('calls a payload with %s malformed', (_what, payload) => {
    const check = checkPayload(payload, DIGEST);
    expect(check.ok).toBe(false);
    expect(!check.ok && check.fault).toBe('malformed');
  });
});

describe('parseSignatureManifest', () => {
  const layer = (i: number, extra: Record<string, unknown> = {}) => ({ mediaType: SIMPLE_SIGNING_MEDIA_TYPE, digest: digestOf(String(i % 10).repeat(64)), size: 240, annotations: { [SIGNATURE_ANNOTATION]: `sig${i}` }, ...extra });
  const manifest = (layers: unknown[]) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers }));

  it('reads the simple-signing layers and skips others', () => {
    const layers = parseSignatureManifest(manifest([layer(1), { mediaType: 'application/octet-stream', digest: DIGEST, size: 3 }, layer(2, { annotations: {} })]));
    expect(layers).toEqual([
      { digest: digestOf('1'.repeat(64)), size: 240, signature: 'sig1' },
      { digest: digestOf('2'.repeat(64)), size: 240, signature: undefined },
    ]);
  });

  it.each([
    ['not JSON', Buffer.from('<html>')],
    ['no layers', Buffer.from('{"schemaVersion":2}')],
    ['no simple-signing layer', manifest([{ mediaType: 'application/octet-stream', digest: DIGEST, size: 3 }])],
    ['a bad layer digest', manifest([layer(1, { digest: 'sha256:1' })])],
    ['a negative size', manifest([layer(1, { size: -1 })])],
    ['too many signatures', manifest(Array.from({ length: MAX_SIGNATURES + 1 }, (_, i) => layer(i)))],
  ])('refuses a manifest with %s', async (_what, body) => {
    expect((await signatureError(() => parseSignatureManifest(body))).fault).toBe('malformed');
  });
});

describe('parsePublicKeys', () => {
  it('reads every PUBLIC KEY block of a value', () => {
    const pems = [keyPair(), keyPair(), keyPair()].map((k) => pemOf(k.publicKey));
    const parsed = parsePublicKeys(`# signing keys\n${pems.join('\n')}`);
    expect(parsed.ok && parsed.keys.map(pemOf)).toEqual(pems);
  });

  it('says why a value holds no usable key', () => {
    expect(parsePublicKeys('ssh-ed25519 AAAA')).toEqual({ ok: false, message: 'holds no PEM "PUBLIC KEY" block' });
    const broken = parsePublicKeys('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----');
    expect(!broken.ok && broken.message).toMatch(/^public key 1 is not readable/);
  });
});

describe('verifySignatures', () => {
  const ours = keyPair();
  const theirs = keyPair();
  const alsoOurs = keyPair();

  it('verifies a signature by any configured key, and names which', () => {
    const verified = verifySignatures([signed(payloadFor(DIGEST), alsoOurs.privateKey)], DIGEST, [ours.publicKey, alsoOurs.publicKey]);
    expect(verified).toEqual({ keyIndex: 1, dockerReference: '127.0.0.1:5000/containerdisks/fedora' });
  });

  it('verifies an Ed25519 signature too', () => {
    const ed = generateKeyPairSync('ed25519');
    const payload = payloadFor(DIGEST);
    expect(verifySignatures([{ payload, signature: sign(null, payload, ed.privateKey).toString('base64') }], DIGEST, [ed.publicKey]).keyIndex).toBe(0);
  });

  it('takes the one good signature among several', () => {
    const signatures = [signed(payloadFor(DIGEST), theirs.privateKey), signed(payloadFor(DIGEST), ours.privateKey)];
    expect(verifySignatures(signatures, DIGEST, [ours.publicKey]).keyIndex).toBe(0);
  });

  it('refuses a signature by another key', async () => {
    const err = await signatureError(() => verifySignatures([signed(payloadFor(DIGEST), theirs.privateKey)], DIGEST, [ours.publicKey]));
    expect([err.reason, err.fault, err.message]).toEqual(['SignatureInvalid', 'wrongKey', 'signed by none of the 1 configured key']);
  });

  it('names a payload over another digest before a wrong key, whatever the order', async () => {
    const signatures = [signed(payloadFor(DIGEST), theirs.privateKey), signed(payloadFor(OTHER_DIGEST), ours.privateKey)];
    for (const order of [signatures, [...signatures].reverse()]) {
      const err = await signatureError(() => verifySignatures(order, DIGEST, [ours.publicKey]));
      expect(err.fault).toBe('digestMismatch');
      expect(err.message).toContain(OTHER_DIGEST);
    }
  });

  it('refuses a missing or non-base64 signature annotation', async () => {
    for (const signature of [undefined, 'not base64!']) {
      expect((await signatureError(() => verifySignatures([{ payload: payloadFor(DIGEST), signature }], DIGEST, [ours.publicKey]))).fault).toBe('malformed');
    }
  });

  it('an empty list is unsigned', async () => {
    const err = await signatureError(() => verifySignatures([], DIGEST, [ours.publicKey]));
    expect([err.reason, err.fault]).toEqual(['SignatureMissing', 'unsigned']);
  });

  it('never verifies a payload changed after signing', () => {
    const payload = payloadFor(DIGEST);
    const signature = sign('sha256', payload, ours.privateKey).toString('base64');
    fc.assert(
      fc.property(fc.nat({ max: payload.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const changed = Buffer.from(payload);
        changed[at] = (changed[at] as number) ^ flip;
        try {
          verifySignatures([{ payload: changed, signature }], DIGEST, [ours.publicKey]);
          return false;
        } catch (err) {
          return err instanceof SignatureError && err.reason === 'SignatureInvalid';
        }
      }),
      { numRuns: 200 },
    );
  });
});

/**
 * A registry holding one signature manifest (for DIGEST, signed by `ours`) behind basic auth,
 * and a second image (OTHER_DIGEST) whose signature blob the registry serves corrupted.
 */
describe('fetchCosignSignatures against a loopback registry', () => {
  let certs: ControlPlaneCerts;
  let server: LoopbackServer;
  const ours = keyPair();
  const reader = { username: 'reader', password: 's3cret' };
  const payload = payloadFor(DIGEST);
  const payloadDigest = `sha256:${createHash('sha256').update(payload).digest('hex')}`;
  const signature = sign('sha256', payload, ours.privateKey).toString('base64');
  const manifestWith = (size: number) => JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [{ mediaType: SIMPLE_SIGNING_MEDIA_TYPE, digest: payloadDigest, size, annotations: { [SIGNATURE_ANNOTATION]: signature } }] });

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.headers.authorization !== `Basic ${Buffer.from('reader:s3cret').toString('base64')}`) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end();
    const path = req.url ?? '';
    if (req.method !== 'GET') return void res.writeHead(405).end();
    if (path === `/v2/signed/manifests/${signatureTag(DIGEST)}` || path === `/v2/corrupt/manifests/${signatureTag(DIGEST)}`) {
      return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(manifestWith(payload.length));
    }
    if (path === `/v2/huge/manifests/${signatureTag(DIGEST)}`) return void res.writeHead(200).end(Buffer.alloc(300 * 1024, 0x20));
    if (path === `/v2/signed/blobs/${payloadDigest}`) return void res.writeHead(200).end(payload);
    if (path === `/v2/corrupt/blobs/${payloadDigest}`) return void res.writeHead(200).end(payloadFor(OTHER_DIGEST));
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
  };

  beforeAll(async () => {
    certs = await generateControlPlaneCerts();
    server = await startLoopbackServer(handler, certs.serving);
  });
  afterAll(async () => {
    closeSourceConnections();
    await server.close();
  });

  const opts = (name: string) => ({ repository: `${server.host}/${name}`, digest: DIGEST, credentials: reader, caPEM: certs.ca.cert, timeoutMs: 5_000 });

  it('reads the manifest at the .sig tag and its payload, and the signature verifies', async () => {
    const fetched = await fetchCosignSignatures(opts('signed'));
    expect(fetched).toEqual([{ payload, signature }]);
    const parsed = parsePublicKeys(pemOf(ours.publicKey));
    if (!parsed.ok) throw new Error(parsed.message);
    expect((await verifyCosignSignature({ ...opts('signed'), keys: parsed.keys })).keyIndex).toBe(0);
    const gets = server.requests.filter((r) => r.headers.authorization?.startsWith('Basic'));
    expect(gets.map((r) => r.path)).toEqual([`/v2/signed/manifests/${signatureTag(DIGEST)}`, `/v2/signed/blobs/${payloadDigest}`, `/v2/signed/manifests/${signatureTag(DIGEST)}`, `/v2/signed/blobs/${payloadDigest}`]);
    expect(gets[0]?.headers.accept).toContain('application/vnd.oci.image.manifest.v1+json');
  });

  it('calls a missing .sig tag SignatureMissing', async () => {
    const err = await signatureError(fetchCosignSignatures(opts('unsigned')));
    expect([err.reason, err.message]).toEqual(['SignatureMissing', `no signature: ${server.host}/unsigned has no tag ${signatureTag(DIGEST)}`]);
  });

  it('refuses a blob whose bytes do not hash to its descriptor digest', async () => {
    const err = await signatureError(fetchCosignSignatures(opts('corrupt')));
    expect(err.fault).toBe('malformed');
    expect(err.message).toContain(payloadDigest);
  });

  it('bounds the manifest size, and reports registry trouble as a SourceError', async () => {
    expect((await failure(fetchCosignSignatures(opts('huge')))).reason).toBe('ResponseTooLarge');
    expect((await failure(fetchCosignSignatures({ ...opts('signed'), credentials: { username: 'reader', password: 'wrong' } }))).reason).toBe('Unauthorized');
  });
});
