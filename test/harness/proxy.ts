// A loopback HTTPS proxy in front of an API server that a test controls: it terminates TLS with a
// certificate of its own (the kubeconfig it hands out trusts that CA and keeps the upstream user's
// client certificate, which the proxy presents upstream), so it sees every request and can
//   - drop every open connection (watches cut mid-stream),
//   - hang the connections open at that moment (no byte either way, sockets left open, as a dead
//     peer behind a firewall looks) while new connections pass,
//   - answer a share of requests itself with 429 (Retry-After) or 500,
// and records when each request arrived, for rates measured at the proxy.
import { writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { generateControlPlaneCerts } from '../../controller/local/certs.ts';

export interface ProxiedRequest {
  at: number;
  method: string;
  path: string;
  watch: boolean;
  /** The status the proxy answered itself, if it did. */
  injected?: number;
  /** The API server's status, once it answered. */
  status?: number;
  /** Bytes of the answer passed on so far. */
  bytes?: number;
  /** When the exchange ended (either side closed). */
  endedAt?: number;
}

export interface FaultShare {
  /** Share of requests (0..1) answered 429 with Retry-After: retryAfterSeconds. */
  tooManyRequests?: number;
  /** Share of requests (0..1) answered 500. */
  serverError?: number;
  retryAfterSeconds?: number;
  /** Watches too (default: only plain requests). */
  watches?: boolean;
}

export interface ApiProxy {
  kubeConfig: KubeConfig;
  /** A kubeconfig file pointing at the proxy, for processes. */
  kubeconfigPath: string;
  requests: ProxiedRequest[];
  /** Destroys every connection open now (both sides). */
  dropAll(): number;
  /** Connections open now stop passing bytes until released or dropped; returns how many. */
  hang(): number;
  /** Ends the hang: the held connections are dropped (their peers long gave up on them). */
  release(): void;
  setFaults(share: FaultShare): void;
  close(): Promise<void>;
}

/** Starts the proxy on 127.0.0.1 before the cluster of `upstream`; `dir` receives its kubeconfig. */
export async function startApiProxy(upstream: KubeConfig, dir: string, random: () => number = Math.random): Promise<ApiProxy> {
  const cluster = upstream.getCurrentCluster()!;
  const user = upstream.getCurrentUser()!;
  const target = new URL(cluster.server);
  const upstreamTLS = {
    ca: Buffer.from(cluster.caData!, 'base64'),
    cert: Buffer.from(user.certData!, 'base64'),
    key: Buffer.from(user.keyData!, 'base64'),
  };
  const certs = await generateControlPlaneCerts();
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const held = new Set<Socket>();
  let faults: FaultShare = {};

  const forward = (req: IncomingMessage, res: ServerResponse, record: ProxiedRequest) => {
    const up = request({
      ...upstreamTLS,
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: target.host },
      agent: false,
    }, (answer) => {
      record.status = answer.statusCode ?? 502;
      record.bytes = 0;
      answer.on('data', (chunk: Buffer) => void (record.bytes! += chunk.length));
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      // As the API server does: a watch's headers go out at once, before its first event.
      res.flushHeaders();
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    up.on('error', () => res.destroy());
    res.on('close', () => {
      record.endedAt = Date.now();
      up.destroy();
    });
    req.pipe(up);
  };

  const server: Server = createServer({ cert: certs.serving.cert, key: certs.serving.key }, (req, res) => {
    const path = req.url ?? '/';
    const watch = /[?&]watch=(true|1)/.test(path);
    const record: ProxiedRequest = { at: Date.now(), method: req.method ?? 'GET', path, watch };
    requests.push(record);
    if (!watch || faults.watches) {
      const roll = random();
      const tooMany = faults.tooManyRequests ?? 0;
      const status = roll < tooMany ? 429 : roll < tooMany + (faults.serverError ?? 0) ? 500 : undefined;
      if (status !== undefined) {
        record.injected = status;
        req.resume();
        const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: status, reason: status === 429 ? 'TooManyRequests' : 'InternalError', message: status === 429 ? 'injected: too many requests' : 'injected: internal error' });
        res.writeHead(status, { 'Content-Type': 'application/json', ...(status === 429 ? { 'Retry-After': String(faults.retryAfterSeconds ?? 1) } : {}) });
        res.end(body);
        return;
      }
    }
    forward(req, res, record);
  });
  // Hanging a connection: pause it both ways at the socket, so nothing is read or written.
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      held.delete(socket);
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;

  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'proxy', server: `https://127.0.0.1:${port}`, caData: Buffer.from(certs.ca.cert).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'admin', certData: user.certData!, keyData: user.keyData! }],
    contexts: [{ name: 'proxy', cluster: 'proxy', user: 'admin' }],
    currentContext: 'proxy',
  });
  const kubeconfigPath = join(dir, `proxy-${port}.kubeconfig`);
  await writeFile(kubeconfigPath, stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'proxy', cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': Buffer.from(certs.ca.cert).toString('base64') } }],
    users: [{ name: 'admin', user: { 'client-certificate-data': user.certData, 'client-key-data': user.keyData } }],
    contexts: [{ name: 'proxy', context: { cluster: 'proxy', user: 'admin' } }],
    'current-context': 'proxy',
  }), { mode: 0o600 });

  return {
    kubeConfig: kc,
    kubeconfigPath,
    requests,
    dropAll: () => {
      const n = sockets.size;
      for (const s of sockets) s.destroy();
      return n;
    },
    hang: () => {
      for (const s of sockets) {
        if (held.has(s)) continue;
        held.add(s);
        s.pause();
        // Writes are swallowed: the TLS layer below still holds the bytes, the peer sees none.
        const write = s.write.bind(s);
        s.write = ((...args: Parameters<typeof write>) => {
          if (held.has(s)) {
            const cb = args.find((a) => typeof a === 'function') as (() => void) | undefined;
            cb?.();
            return true;
          }
          return write(...args);
        }) as typeof s.write;
      }
      return held.size;
    },
    release: () => {
      for (const s of held) s.destroy();
      held.clear();
    },
    setFaults: (share) => void (faults = share),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Requests (watches excluded) that arrived in each whole second of [from, to), the busiest first. */
export function busiestSeconds(requests: ProxiedRequest[], from: number, to: number): number[] {
  const buckets = new Map<number, number>();
  for (const r of requests) {
    if (r.watch || r.at < from || r.at >= to) continue;
    const second = Math.floor((r.at - from) / 1000);
    buckets.set(second, (buckets.get(second) ?? 0) + 1);
  }
  return [...buckets.values()].sort((a, b) => b - a);
}
