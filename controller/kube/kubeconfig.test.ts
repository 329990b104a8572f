// ClientConfig against client-node's KubeConfig, the reference: generated kubeconfigs (every
// combination of CA, TLS and credential forms, files relative to the kubeconfig's directory,
// several contexts) must give the same cluster, user, contexts and request options from both.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ClientConfig } from './kubeconfig.ts';
import { tokenFileOf } from './http.ts';

const dir = mkdtempSync(join(tmpdir(), 'virtfleet-kubeconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pem = (what: string) => `-----BEGIN ${what}-----\n${Buffer.from(`${what} bytes`).toString('base64')}\n-----END ${what}-----\n`;
writeFileSync(join(dir, 'ca.crt'), pem('CERTIFICATE'));
writeFileSync(join(dir, 'client.crt'), pem('CERTIFICATE'));
writeFileSync(join(dir, 'client.key'), pem('PRIVATE KEY'));
const plugin = join(dir, 'credential-plugin');
writeFileSync(plugin, `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-exec-'"$TOKEN_SUFFIX"'"}}'\n`);
chmodSync(plugin, 0o755);
const b64 = (s: string) => Buffer.from(s).toString('base64');

const clusterBody = fc.record({
  server: fc.constantFrom('https://127.0.0.1:6443', 'https://[::1]:6443/', 'https://api.example.test'),
  'certificate-authority': fc.option(fc.constantFrom('ca.crt', join(dir, 'ca.crt')), { nil: undefined }),
  'certificate-authority-data': fc.option(fc.constant(b64(pem('CERTIFICATE'))), { nil: undefined }),
  'insecure-skip-tls-verify': fc.option(fc.boolean(), { nil: undefined }),
  'tls-server-name': fc.option(fc.constantFrom('kubernetes', 'api.internal'), { nil: undefined }),
}, { requiredKeys: ['server'] });
const userBody = fc.oneof(
  fc.record({ token: fc.constantFrom('t0k3n', 'abc.def.ghi') }),
  fc.record({ 'client-certificate-data': fc.constant(b64(pem('CERTIFICATE'))), 'client-key-data': fc.constant(b64(pem('PRIVATE KEY'))) }),
  fc.record({ 'client-certificate': fc.constant('client.crt'), 'client-key': fc.constant(join(dir, 'client.key')) }),
  fc.record({ username: fc.constantFrom('admin', 'ops'), password: fc.constantFrom('secret', 'p:w') }),
  fc.record({ exec: fc.record({ apiVersion: fc.constant('client.authentication.k8s.io/v1'), command: fc.constant(plugin), env: fc.constant([{ name: 'TOKEN_SUFFIX', value: 'x' }]) }) }),
  fc.record({ token: fc.constant('t'), as: fc.constantFrom('jane', 'system:serviceaccount:ns:sa') }),
  fc.constant({}),
);
const kubeconfig = fc.record({
  clusters: fc.uniqueArray(fc.record({ name: fc.constantFrom('a', 'b', 'c'), cluster: clusterBody }), { minLength: 1, maxLength: 3, selector: (c) => c.name }),
  users: fc.uniqueArray(fc.record({ name: fc.constantFrom('u', 'v'), user: userBody }), { minLength: 1, maxLength: 2, selector: (u) => u.name }),
  contexts: fc.uniqueArray(fc.record({ name: fc.constantFrom('one', 'two'), context: fc.record({ cluster: fc.constantFrom('a', 'b', 'c'), user: fc.constantFrom('u', 'v'), namespace: fc.option(fc.constantFrom('default', 'web'), { nil: undefined }) }, { requiredKeys: ['cluster', 'user'] }) }), { minLength: 1, maxLength: 2, selector: (c) => c.name }),
  'current-context': fc.constantFrom('one', 'two'),
});

/** The request options a config gives, as comparable data. */
async function optionsOf(kc: { applyToHTTPSOptions(o: RequestOptions): Promise<void> }) {
  const o: RequestOptions = {};
  await kc.applyToHTTPSOptions(o);
  const text = (v: unknown) => (v === undefined ? undefined : Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
  const headers = (o.headers ?? {}) as Record<string, string>;
  return { ca: text(o.ca), cert: text(o.cert), key: text(o.key), rejectUnauthorized: o.rejectUnauthorized, servername: o.servername, auth: o.auth, authorization: headers.Authorization, impersonate: headers['Impersonate-User'] };
}

describe('ClientConfig', () => {
  it('reads every generated kubeconfig as client-node does', async () => {
    await fc.assert(fc.asyncProperty(kubeconfig, async (doc) => {
      const path = join(dir, 'config');
      writeFileSync(path, stringify({ apiVersion: 'v1', kind: 'Config', ...doc }));
      const ours = new ClientConfig();
      ours.loadFromFile(path);
      const reference = new KubeConfig();
      reference.loadFromFile(path);
      expect(ours.getCurrentContext()).toBe(reference.getCurrentContext());
      expect(ours.getContexts()).toEqual(reference.getContexts().map((c) => JSON.parse(JSON.stringify(c))));
      const cluster = reference.getCurrentCluster();
      expect(ours.getCurrentCluster()).toEqual(cluster ? JSON.parse(JSON.stringify(cluster)) : null);
      if (!reference.getCurrentUser()) return expect(ours.getCurrentUser()).toBeNull();
      expect(await optionsOf(ours)).toEqual(await optionsOf(reference));
    }), { numRuns: 300 });
  });

  it('keeps a tokenFile for the client to re-read, and names it for KubeHttp', () => {
    const kc = new ClientConfig();
    kc.loadFromString(stringify({ clusters: [{ name: 'a', cluster: { server: 'https://127.0.0.1:6443' } }], users: [{ name: 'u', user: { tokenFile: 'token' } }], contexts: [{ name: 'c', context: { cluster: 'a', user: 'u' } }], 'current-context': 'c' }), dir);
    expect(tokenFileOf(kc)).toBe(join(dir, 'token'));
  });

  it('loads the in-cluster config as client-node does, IPv6 hosts in brackets', async () => {
    const sa = join(dir, 'serviceaccount');
    rmSync(sa, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(sa);
    writeFileSync(join(sa, 'ca.crt'), pem('CERTIFICATE'));
    writeFileSync(join(sa, 'token'), 'sa-token');
    writeFileSync(join(sa, 'namespace'), 'virtfleet-system');
    for (const host of ['10.96.0.1', 'fd00::1']) {
      const kc = new ClientConfig();
      kc.loadFromCluster(sa, { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: '443' });
      expect(kc.getCurrentCluster()).toMatchObject({ server: host.includes(':') ? `https://[${host}]:443` : `https://${host}:443`, caFile: join(sa, 'ca.crt') });
      expect(kc.getContextObject(kc.getCurrentContext())?.namespace).toBe('virtfleet-system');
      expect(tokenFileOf(kc)).toBe(join(sa, 'token'));
      expect((await optionsOf(kc)).ca).toBe(pem('CERTIFICATE'));
    }
  });

  it('runs an exec plugin once until its credential expires', async () => {
    const counter = join(dir, 'runs');
    const expiring = join(dir, 'expiring-plugin');
    writeFileSync(counter, '');
    writeFileSync(expiring, `#!/bin/sh\necho run >> ${counter}\necho '{"kind":"ExecCredential","status":{"token":"e","expirationTimestamp":"'"$EXPIRES"'"}}'\n`);
    chmodSync(expiring, 0o755);
    const load = (expires: string) => {
      const kc = new ClientConfig();
      kc.loadFromString(stringify({ clusters: [{ name: 'a', cluster: { server: 'https://127.0.0.1:6443' } }], users: [{ name: 'u', user: { exec: { command: expiring, env: [{ name: 'EXPIRES', value: expires }] } } }], contexts: [{ name: 'c', context: { cluster: 'a', user: 'u' } }], 'current-context': 'c' }));
      return kc;
    };
    const runs = async () => (await import('node:fs')).readFileSync(counter, 'utf8').split('\n').filter(Boolean).length;
    const lasting = load(new Date(Date.now() + 3_600_000).toISOString());
    for (let i = 0; i < 3; i++) expect((await optionsOf(lasting)).authorization).toBe('Bearer e');
    expect(await runs()).toBe(1);
    const expired = load(new Date(Date.now() - 1_000).toISOString());
    await optionsOf(expired);
    await optionsOf(expired);
    expect(await runs()).toBe(3);
  });

  it('says what is wrong with a broken kubeconfig', () => {
    const kc = new ClientConfig();
    expect(() => kc.loadFromString('clusters: [{name: a, cluster: {}}]')).toThrow('clusters[0].cluster.server is missing');
    expect(() => kc.loadFromString('contexts: [{context: {cluster: a}}]')).toThrow('contexts[0].name is missing');
    expect(() => kc.loadFromString('users: {}')).toThrow('users is not a list');
  });

  it('leaves an auth-provider to client-node, loaded when first needed', async () => {
    const text = stringify({ clusters: [{ name: 'a', cluster: { server: 'https://127.0.0.1:6443' } }], users: [{ name: 'u', user: { 'auth-provider': { name: 'oidc', config: { 'id-token': 'header.payload.sig', 'client-id': 'k' } } } }], contexts: [{ name: 'c', context: { cluster: 'a', user: 'u' } }], 'current-context': 'c' });
    const ours = new ClientConfig();
    ours.loadFromString(text);
    const reference = new KubeConfig();
    reference.loadFromString(text);
    expect(await optionsOf(ours).catch((e: Error) => e.message)).toEqual(await optionsOf(reference).catch((e: Error) => e.message));
  });
});
