import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpImports, type DownloadRequest } from './http-import.ts';
import { parseChecksum } from './http-source.ts';

const BODY = Buffer.from('a small disk image'.repeat(1_000));
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/private.img' && req.headers.authorization !== `Basic ${Buffer.from('user:pw').toString('base64')}`) {
      res.writeHead(401, 'Unauthorized').end();
    } else if (req.url === '/short.img') {
      // Promises more than it sends, then hangs up.
      res.writeHead(200, { 'Content-Length': BODY.length * 2 });
      res.write(BODY, () => res.destroy());
    } else if (req.url === '/stall.img') {
      res.writeHead(200, { 'Content-Length': BODY.length });
      res.write(BODY.subarray(0, 10));
    } else {
      res.writeHead(200, { 'Content-Length': BODY.length }).end(BODY);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Runs one download to its end and returns its final view. */
async function download(path: string, extra: Partial<DownloadRequest> = {}, idleMs = 5_000) {
  let imports: HttpImports | undefined;
  const settled = new Promise<void>((resolve) => {
    imports = new HttpImports({ connectMs: 5_000, idleMs, totalMs: 10_000 }, () => resolve());
  });
  imports!.start({ uid: 'u', key: 'ns/dv', attempt: 1, url: `${base}${path}`, inputs: () => Promise.resolve({ ok: true }), ...extra });
  await settled;
  return { view: imports!.view('u'), imports: imports! };
}

describe('HttpImports', () => {
  it('streams the body through the checksum’s hash', async () => {
    const { view } = await download('/disk.img', { checksum: parseChecksum(`sha512:${'0'.repeat(128)}`) });
    expect(view).toEqual({ phase: 'done', attempt: 1, bytesRead: BODY.length, digest: createHash('sha512').update(BODY).digest('hex') });
  });

  it('sends the Secret’s credentials as basic auth', async () => {
    expect((await download('/private.img')).view).toMatchObject({ phase: 'failed', message: expect.stringContaining('got 401. Status: 401 Unauthorized') });
    expect((await download('/private.img', { inputs: () => Promise.resolve({ ok: true, auth: { username: 'user', password: 'pw' } }) })).view).toMatchObject({ phase: 'done' });
  });

  it('a body cut short is an unexpected EOF; a stalled one is cancelled after the idle timeout', async () => {
    expect((await download('/short.img')).view).toMatchObject({ phase: 'failed', message: 'Unable to process data: Unable to transfer source data to scratch space: unexpected EOF' });
    expect((await download('/stall.img', {}, 300)).view).toMatchObject({ phase: 'failed', message: 'Unable to process data: Unable to transfer source data to scratch space: context canceled' });
  });

  it('a refused connection and an unparsable checksum read as the importer words them', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    let imports: HttpImports | undefined;
    const settled = new Promise<void>((resolve) => { imports = new HttpImports({ connectMs: 5_000, idleMs: 5_000, totalMs: 5_000 }, () => resolve()); });
    imports!.start({ uid: 'u', key: 'k', attempt: 1, url: `http://127.0.0.1:${port}/x`, inputs: () => Promise.resolve({ ok: true }) });
    await settled;
    expect(imports!.view('u')).toMatchObject({ phase: 'failed', message: `Unable to connect to http data source: HTTP request errored: Get "http://127.0.0.1:${port}/x": dial tcp 127.0.0.1:${port}: connect: connection refused` });
    expect((await download('/disk.img', { checksum: parseChecksum('sha256:xyz') })).view).toMatchObject({ phase: 'failed', message: 'Unable to connect to http data source: invalid checksum: invalid sha256 hash length: expected 64 hex characters, got 3' });
  });

  it('a pod whose inputs are missing waits; cancel and prune forget downloads', async () => {
    const { view, imports } = await download('/disk.img', { inputs: () => Promise.resolve({ ok: false, reason: 'CreateContainerConfigError', message: 'secret "s" not found' }) });
    expect(view).toEqual({ phase: 'waiting', attempt: 1, reason: 'CreateContainerConfigError', message: 'secret "s" not found' });
    imports.start({ uid: 'other', key: 'ns/other', attempt: 1, url: `${base}/stall.img`, inputs: () => Promise.resolve({ ok: true }) });
    expect(imports.size).toBe(2);
    imports.prune(new Set(['u']));
    expect(imports.view('other')).toBeUndefined();
    imports.cancelKey('ns/dv');
    expect(imports.size).toBe(0);
  });
});
