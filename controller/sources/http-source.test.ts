import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { generateControlPlaneCerts, type ControlPlaneCerts } from '../local/certs.ts';
import { closeSourceConnections, errorForStatus, httpGet, parseRetryAfter } from './http-client.ts';
import { pollChecksumFile } from './http-source.ts';
import { selfSignedServingCert, startLoopbackServer, type LoopbackServer, failure } from './test-servers.ts';

const HEX_1 = '1'.repeat(64);
const HEX_2 = '2'.repeat(64);

afterAll(() => closeSourceConnections());

describe('pollChecksumFile', () => {
  let server: LoopbackServer;
  let sums = `${HEX_1}  disk.qcow2\n${HEX_2}  other.qcow2\n`;
  let etag = '"v1"';
  const lastModified = 'Tue, 03 Mar 2026 10:00:00 GMT';

  beforeAll(async () => {
    server = await startLoopbackServer((req, res) => {
      const path = req.url ?? '';
      if (path === '/etag/SHA256SUMS') {
        if (req.headers['if-none-match'] === etag) return res.writeHead(304, { etag }).end();
        return res.writeHead(200, { etag, 'content-type': 'text/plain' }).end(sums);
      }
      if (path === '/lastmod/SHA256SUMS') {
        if (req.headers['if-modified-since'] === lastModified) return res.writeHead(304).end();
        return res.writeHead(200, { 'last-modified': lastModified }).end(sums);
      }
      if (path === '/broken/SHA256SUMS') return res.writeHead(200).end(`${HEX_1}  disk.qcow2\n<html>\n`);
      if (path === '/big/SHA256SUMS') {
        // No Content-Length: the cap has to count the streamed bytes.
        res.writeHead(200);
        const line = `${HEX_1}  disk.qcow2\n`;
        for (let i = 0; i < 40_000; i++) res.write(line);
        return res.end();
      }
      if (path === '/declared-big/SHA256SUMS') return res.writeHead(200, { 'content-length': String(5 * 1024 * 1024) }).end('x');
      if (path === '/mirror/SHA256SUMS') return res.writeHead(302, { location: '/etag/SHA256SUMS' }).end();
      if (path === '/loop/a') return res.writeHead(301, { location: '/loop/b' }).end();
      if (path === '/loop/b') return res.writeHead(307, { location: `${server.url}/loop/a` }).end();
      const chain = /^\/chain\/(\d+)$/.exec(path);
      if (chain) return res.writeHead(302, { location: `/chain/${Number(chain[1]) + 1}` }).end();
      if (path === '/busy/seconds') return res.writeHead(429, { 'retry-after': '120' }).end('slow down');
      if (path === '/busy/date') return res.writeHead(429, { 'retry-after': new Date(Date.now() + 90_000).toUTCString() }).end();
      if (path === '/down') return res.writeHead(503).end('maintenance');
      if (path === '/private/SHA256SUMS') {
        if (req.headers.authorization !== `Basic ${Buffer.from('reader:s3cret').toString('base64')}`) return res.writeHead(401, { 'www-authenticate': 'Basic realm="images"' }).end();
        return res.writeHead(200).end(sums);
      }
      res.writeHead(404).end('no such file');
    });
  });
  afterAll(() => server.close());

  it('reads the checksum for the image file, then answers 304 with the ETag, and sees a change', async () => {
    const first = await pollChecksumFile({ checksumURL: `${server.url}/etag/SHA256SUMS`, imageURL: 'https://images.example/pub/disk.qcow2' });
    expect(first).toEqual({ notModified: false, checksum: `sha256:${HEX_1}`, etag: '"v1"', lastModified: undefined });
    const again = await pollChecksumFile({ checksumURL: `${server.url}/etag/SHA256SUMS`, imageURL: 'https://images.example/pub/disk.qcow2', etag: '"v1"', lastModified });
    expect(again).toEqual({ notModified: true });
    // If-None-Match wins: If-Modified-Since is not sent alongside it.
    const conditional = server.requests.at(-1);
    expect(conditional?.headers['if-none-match']).toBe('"v1"');
    expect(conditional?.headers['if-modified-since']).toBeUndefined();

    sums = `${HEX_2}  disk.qcow2\n`;
    etag = '"v2"';
    const changed = await pollChecksumFile({ checksumURL: `${server.url}/etag/SHA256SUMS`, imageURL: 'https://images.example/pub/disk.qcow2', etag: '"v1"' });
    expect(changed).toEqual({ notModified: false, checksum: `sha256:${HEX_2}`, etag: '"v2"', lastModified: undefined });
  });

  it('uses Last-Modified when there is no ETag', async () => {
    const opts = { checksumURL: `${server.url}/lastmod/SHA256SUMS`, imageURL: 'http://x/disk.qcow2' };
    const first = await pollChecksumFile(opts);
    expect(first).toMatchObject({ notModified: false, lastModified, etag: undefined });
    expect(await pollChecksumFile({ ...opts, lastModified })).toEqual({ notModified: true });
    expect(server.requests.at(-1)?.headers['if-modified-since']).toBe(lastModified);
  });

  it('follows a redirect to the file', async () => {
    const res = await pollChecksumFile({ checksumURL: `${server.url}/mirror/SHA256SUMS`, imageURL: 'http://x/disk.qcow2' });
    expect(res).toMatchObject({ notModified: false, etag });
  });

  it('names the malformed line, and a file that does not list the image', async () => {
    const bad = await failure(pollChecksumFile({ checksumURL: `${server.url}/broken/SHA256SUMS`, imageURL: 'http://x/disk.qcow2' }));
    expect(bad.reason).toBe('Malformed');
    expect(bad.message).toContain('line 2: not a checksum line');
    const unlisted = await failure(pollChecksumFile({ checksumURL: `${server.url}/etag/SHA256SUMS`, imageURL: 'http://x/nope.img' }));
    expect(unlisted.reason).toBe('NotFound');
    expect(unlisted.message).toContain('lists no checksum for "nope.img"');
  });

  it('caps the body, streamed or declared', async () => {
    const streamed = await failure(pollChecksumFile({ checksumURL: `${server.url}/big/SHA256SUMS`, imageURL: 'http://x/disk.qcow2' }));
    expect(streamed.reason).toBe('ResponseTooLarge');
    expect(streamed.message).toContain('larger than 1048576 bytes');
    const declared = await failure(pollChecksumFile({ checksumURL: `${server.url}/declared-big/SHA256SUMS`, imageURL: 'http://x/disk.qcow2', maxBytes: 1000 }));
    expect(declared.reason).toBe('ResponseTooLarge');
  });

  it('names a redirect loop, and stops after 5 redirects', async () => {
    const loop = await failure(httpGet({ method: 'GET', url: `${server.url}/loop/a` }));
    expect(loop.reason).toBe('TooManyRedirects');
    expect(loop.message).toContain(`redirect loop: ${server.url}/loop/a → ${server.url}/loop/b → ${server.url}/loop/a`);
    const chain = await failure(httpGet({ method: 'GET', url: `${server.url}/chain/0` }));
    expect(chain.reason).toBe('TooManyRedirects');
    expect(chain.message).toContain('more than 5 redirects');
    expect(server.requests.filter((r) => r.path.startsWith('/chain/'))).toHaveLength(6);
  });

  it('surfaces Retry-After of a 429, as seconds or a date, without waiting', async () => {
    const started = Date.now();
    const seconds = await failure(pollChecksumFile({ checksumURL: `${server.url}/busy/seconds`, imageURL: 'http://x/disk.qcow2' }));
    expect(seconds).toMatchObject({ reason: 'RateLimited', status: 429, retryAfterMs: 120_000 });
    expect(seconds.message).toContain('429: slow down (retry after 120 s)');
    const date = await failure(pollChecksumFile({ checksumURL: `${server.url}/busy/date`, imageURL: 'http://x/disk.qcow2' }));
    expect(date.reason).toBe('RateLimited');
    // HTTP dates have whole seconds.
    expect(date.retryAfterMs).toBeGreaterThan(85_000);
    expect(date.retryAfterMs).toBeLessThanOrEqual(90_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await failure(pollChecksumFile({ checksumURL: `${server.url}/down`, imageURL: 'http://x/d' }))).toMatchObject({ reason: 'ServerError', status: 503 });
    expect(await failure(pollChecksumFile({ checksumURL: `${server.url}/gone/SHA256SUMS`, imageURL: 'http://x/d' }))).toMatchObject({ reason: 'NotFound', status: 404 });
  });

  it('sends basic credentials, and reports Unauthorized without them', async () => {
    const opts = { checksumURL: `${server.url}/private/SHA256SUMS`, imageURL: 'http://x/disk.qcow2' };
    expect(await failure(pollChecksumFile(opts))).toMatchObject({ reason: 'Unauthorized', status: 401 });
    expect(await failure(pollChecksumFile({ ...opts, credentials: { username: 'reader', password: 'wrong' } }))).toMatchObject({ reason: 'Unauthorized' });
    expect(await pollChecksumFile({ ...opts, credentials: { username: 'reader', password: 's3cret' } })).toMatchObject({ notModified: false });
  });
});

describe('httpGet', () => {
  it('does not send credentials across a redirect to another origin', async () => {
    const other = await startLoopbackServer((_req, res) => res.writeHead(200).end('ok'));
    const first = await startLoopbackServer((_req, res) => res.writeHead(302, { location: `${other.url}/file` }).end());
    try {
      const res = await httpGet({ method: 'GET', url: `${first.url}/file`, basicAuth: { username: 'u', password: 'p' } });
      expect(res).toMatchObject({ status: 200, url: `${other.url}/file` });
      expect(first.requests[0]?.headers.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
      expect(other.requests[0]?.headers.authorization).toBeUndefined();
    } finally {
      await Promise.all([first.close(), other.close()]);
    }
  });

  it('times out on a server that never answers', async () => {
    const silent = await startLoopbackServer(() => undefined);
    try {
      const started = Date.now();
      const err = await failure(httpGet({ method: 'GET', url: `${silent.url}/x`, timeoutMs: 300 }));
      expect(err.reason).toBe('SourceUnreachable');
      expect(err.message).toContain('no complete response within 300 ms');
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await silent.close();
    }
  });

  it('times out connecting to a TLS server that never completes its handshake', async () => {
    const sockets = new Set<Socket>();
    const mute: NetServer = createNetServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = mute.address() as AddressInfo;
      const err = await failure(httpGet({ method: 'HEAD', url: `https://127.0.0.1:${port}/`, connectTimeoutMs: 200, timeoutMs: 5_000 }));
      expect(err.reason).toBe('SourceUnreachable');
      expect(err.message).toContain('could not connect within 200 ms');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => mute.close(() => resolve()));
    }
  });

  it('reports a refused connection with the system words', async () => {
    const gone = await startLoopbackServer(() => undefined);
    await gone.close();
    const err = await failure(httpGet({ method: 'GET', url: `${gone.url}/x` }));
    expect(err.reason).toBe('SourceUnreachable');
    expect(err.message).toContain('ECONNREFUSED');
  });

  describe('TLS', () => {
    let certs: ControlPlaneCerts;
    let otherCA: ControlPlaneCerts;
    let server: LoopbackServer;

    beforeAll(async () => {
      [certs, otherCA] = await Promise.all([generateControlPlaneCerts(), generateControlPlaneCerts()]);
      server = await startLoopbackServer((_req, res) => res.writeHead(200).end('secure'), certs.serving);
    });
    afterAll(() => server.close());

    it('trusts the source CA it is given', async () => {
      const res = await httpGet({ method: 'GET', url: `${server.url}/`, caPEM: certs.ca.cert });
      expect(res.body.toString()).toBe('secure');
    });

    it('fails with the TLS words without the CA, or with another CA', async () => {
      const without = await failure(httpGet({ method: 'GET', url: `${server.url}/` }));
      expect(without.reason).toBe('SourceUnreachable');
      expect(without.message).toBe(`GET ${server.url}/: TLS: unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`);
      // The other CA has the same name, so OpenSSL takes it for the issuer and its signature fails.
      const wrong = await failure(httpGet({ method: 'GET', url: `${server.url}/`, caPEM: otherCA.ca.cert }));
      expect(wrong.reason).toBe('SourceUnreachable');
      expect(wrong.message).toContain('TLS: certificate signature failure (CERT_SIGNATURE_FAILURE)');
    });

    it('names a self-signed certificate', async () => {
      const selfSigned = await startLoopbackServer((_req, res) => res.writeHead(200).end(), await selfSignedServingCert());
      try {
        const err = await failure(httpGet({ method: 'GET', url: `${selfSigned.url}/` }));
        expect(err.message).toContain('TLS: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)');
      } finally {
        await selfSigned.close();
      }
    });
  });
});

describe('status and Retry-After', () => {
  const res = (status: number, headers: Record<string, string> = {}) => ({ status, headers, body: Buffer.alloc(0), url: 'https://r/x' });

  it('maps statuses to reasons', () => {
    expect(errorForStatus(res(200), 'GET x')).toBeUndefined();
    expect(errorForStatus(res(304), 'GET x')).toBeUndefined();
    expect(errorForStatus(res(401), 'GET x')?.reason).toBe('Unauthorized');
    expect(errorForStatus(res(403), 'GET x')?.reason).toBe('Unauthorized');
    expect(errorForStatus(res(404), 'HEAD m', 'TagNotFound')?.reason).toBe('TagNotFound');
    expect(errorForStatus(res(404), 'GET x')?.reason).toBe('NotFound');
    expect(errorForStatus(res(429), 'GET x')).toMatchObject({ reason: 'RateLimited', retryAfterMs: undefined });
    expect(errorForStatus(res(502), 'GET x')?.reason).toBe('ServerError');
    expect(errorForStatus(res(503, { 'retry-after': '7' }), 'GET x')).toMatchObject({ reason: 'ServerError', retryAfterMs: 7000 });
  });

  it('reads Retry-After seconds and dates', () => {
    const now = Date.parse('2026-03-03T10:00:00Z');
    fc.assert(fc.property(fc.nat(1_000_000), (s) => parseRetryAfter(String(s), now) === s * 1000));
    fc.assert(
      fc.property(fc.integer({ min: -3600, max: 86_400 }), (s) => parseRetryAfter(new Date(now + s * 1000).toUTCString(), now) === Math.max(0, s * 1000)),
    );
    for (const bad of [undefined, '', 'soon', '-5', '1.5']) expect(parseRetryAfter(bad, now)).toBeUndefined();
  });
});
