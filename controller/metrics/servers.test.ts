import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseBindAddress } from './servers.ts';

describe('parseBindAddress', () => {
  it('reads controller-runtime\'s forms', () => {
    expect(parseBindAddress('--x', '0')).toBeUndefined();
    expect(parseBindAddress('--x', ':8080')).toEqual({ host: undefined, port: 8080 });
    expect(parseBindAddress('--x', '127.0.0.1:8081')).toEqual({ host: '127.0.0.1', port: 8081 });
    expect(parseBindAddress('--x', '[::1]:9090')).toEqual({ host: '::1', port: 9090 });
  });

  it('refuses what is not host:port', () => {
    for (const bad of ['', '8080', 'localhost', ':', ':99999', '::1:80', 'a:b']) expect(() => parseBindAddress('--x', bad)).toThrow('--x must be');
  });

  it('gives back the port of any host:port', () => {
    fc.assert(fc.property(fc.ipV4(), fc.integer({ min: 0, max: 65535 }), (host, port) => {
      expect(parseBindAddress('--x', `${host}:${port}`)).toEqual({ host, port });
    }));
  });
});
