import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { crashLoopBackoffMs, downloadFraction, goNetError, HASH_ALGORITHMS, isLoopbackUrl, liveHttpImport, parseChecksum } from './http-source.ts';
import { dataVolume } from './test-fixtures.ts';
import { formatProgress } from './transfer.ts';

describe('parseChecksum (CDI checksum.ParseAndValidate)', () => {
  it('accepts every algorithm with a digest of its length, in any case and with spaces', () => {
    fc.assert(fc.property(fc.constantFrom(...HASH_ALGORITHMS), fc.uint8Array({ minLength: 0, maxLength: 64 }), (algorithm, bytes) => {
      const hex = createHash(algorithm).update(bytes).digest('hex');
      expect(parseChecksum(` ${algorithm.toUpperCase()} : ${hex.toUpperCase()} `)).toEqual({ ok: true, algorithm, hex });
    }));
  });

  it('refuses what CDI refuses, in its words', () => {
    expect(parseChecksum('abc')).toEqual({ ok: false, error: "invalid checksum format: expected 'algorithm:hash', got 'abc'" });
    expect(parseChecksum('sha256:')).toEqual({ ok: false, error: 'checksum hash value cannot be empty' });
    expect(parseChecksum('crc32:00')).toMatchObject({ ok: false, error: expect.stringContaining("unsupported hash algorithm 'crc32'") });
    expect(parseChecksum('md5:abc')).toEqual({ ok: false, error: 'invalid md5 hash length: expected 32 hex characters, got 3' });
    expect(parseChecksum(`sha1:${'z'.repeat(40)}`)).toMatchObject({ ok: false, error: expect.stringContaining('not valid hexadecimal') });
  });
});

describe('isLoopbackUrl', () => {
  it('is true for 127.0.0.0/8, [::1] and localhost over http and https only', () => {
    for (const url of ['http://127.0.0.1:8080/a.img', 'https://127.1.2.3/x', 'http://[::1]:9/x', 'http://LOCALHOST/x']) expect(isLoopbackUrl(url)).toBe(true);
    for (const url of ['http://10.0.0.1/x', 'https://example.com/x', 'http://127.0.0.1.example.com/x', 'ftp://127.0.0.1/x', 'not a url', 'http://[::2]/x', 'http://localhost.example/x']) {
      expect(isLoopbackUrl(url)).toBe(false);
    }
  });

  it('never takes a host outside 127.0.0.0/8 for loopback', () => {
    fc.assert(fc.property(fc.ipV4(), (ip) => {
      expect(isLoopbackUrl(`http://${ip}/f`)).toBe(ip.startsWith('127.'));
    }));
  });
});

describe('liveHttpImport', () => {
  it('takes a loopback http source with its checksum, CA ConfigMap and Secret', () => {
    const dv = dataVolume('a', { source: { http: { url: 'http://127.0.0.1:1/f', checksum: `sha256:${'a'.repeat(64)}`, certConfigMap: 'ca', secretRef: 'creds' } } });
    expect(liveHttpImport(dv)).toEqual({ url: 'http://127.0.0.1:1/f', checksum: { ok: true, algorithm: 'sha256', hex: 'a'.repeat(64) }, certConfigMap: 'ca', secretRef: 'creds' });
  });

  it('leaves other URLs and sources to the simulated import', () => {
    expect(liveHttpImport(dataVolume('a', { source: { http: { url: 'https://images.example/f' } } }))).toBeUndefined();
    expect(liveHttpImport(dataVolume('a', { source: { registry: { url: 'docker://127.0.0.1/i' } } }))).toBeUndefined();
    expect(liveHttpImport(dataVolume('a', { source: { http: { url: 'http://127.0.0.1/f' } } }))).toEqual({ url: 'http://127.0.0.1/f' });
  });
});

describe('downloadFraction', () => {
  it('is unknown without a Content-Length and never reaches 100% while reading', () => {
    expect(downloadFraction(10, undefined)).toBeUndefined();
    expect(downloadFraction(10, 0)).toBeUndefined();
    fc.assert(fc.property(fc.nat(), fc.integer({ min: 1 }), fc.nat(), (a, total, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      const low = formatProgress(downloadFraction(lo, total)!);
      const high = formatProgress(downloadFraction(hi, total)!);
      expect(parseFloat(low)).toBeLessThanOrEqual(parseFloat(high));
      expect(high).toMatch(/^\d{1,2}\.\d{2}%$/);
    }));
  });
});

describe('goNetError', () => {
  it('words a refused connection as Go does', () => {
    expect(goNetError({ code: 'ECONNREFUSED', address: '127.0.0.1', port: 1, message: 'x' })).toBe('dial tcp 127.0.0.1:1: connect: connection refused');
    expect(goNetError({ code: 'ECONNREFUSED', address: '::1', port: 9, message: 'x' })).toBe('dial tcp [::1]:9: connect: connection refused');
    expect(goNetError({ code: 'EPROTO', message: 'bad record' })).toBe('bad record');
  });
});

describe('crashLoopBackoffMs', () => {
  it('doubles from 10 s and stops at 5 minutes', () => {
    expect([0, 1, 2, 3, 6, 7, 50].map(crashLoopBackoffMs)).toEqual([0, 10_000, 20_000, 40_000, 300_000, 300_000, 300_000]);
    fc.assert(fc.property(fc.integer({ min: 1, max: 1_000 }), (n) => {
      expect(crashLoopBackoffMs(n + 1)).toBeGreaterThanOrEqual(crashLoopBackoffMs(n));
    }));
  });
});
