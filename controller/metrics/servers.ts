// The /metrics and probe endpoints of `virtfleet run`, on node:http, each on its own bind address
// (controller-runtime's --metrics-bind-address and --health-probe-bind-address; "0" turns one off).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface BindAddress {
  /** undefined: every interface (":8080"). */
  host: string | undefined;
  port: number;
}

/** Parses "0" (off: undefined), ":8080", "127.0.0.1:8080" or "[::1]:8080"; throws on anything else. */
export function parseBindAddress(flag: string, value: string): BindAddress | undefined {
  if (value === '0') return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`${flag} must be 0 (off), :<port> or <host>:<port>, not "${value}"`);
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}

export interface Probes {
  health(): { healthy: boolean; reason: string };
  readiness(): { ready: boolean; reason: string };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

function answer(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function pathOf(req: IncomingMessage): string {
  return new URL(req.url ?? '/', 'http://localhost').pathname;
}

export function metricsHandler(registry: Registry): Handler {
  return async (req, res) => {
    if (pathOf(req) !== '/metrics') return answer(res, 404, 'not found\n');
    answer(res, 200, await registry.metrics(), registry.contentType);
  };
}

/** /healthz and /readyz: 200 "ok", or 500 with the reason, as controller-runtime's checks answer. */
export function probesHandler(probes: Probes): Handler {
  return (req, res) => {
    const path = pathOf(req);
    if (path === '/healthz') {
      const h = probes.health();
      return answer(res, h.healthy ? 200 : 500, h.healthy ? 'ok\n' : `unhealthy: ${h.reason}\n`);
    }
    if (path === '/readyz') {
      const r = probes.readiness();
      return answer(res, r.ready ? 200 : 500, r.ready ? 'ok\n' : `not ready: ${r.reason}\n`);
    }
    answer(res, 404, 'not found\n');
  };
}

export interface RunningServer {
  /** host:port it listens on (the port chosen when 0 was asked). */
  readonly address: string;
  close(): Promise<void>;
}

/** Listens on the address; requests that stall are cut off, and close() ends kept-alive connections. */
export async function listen(address: BindAddress, handler: Handler): Promise<RunningServer> {
  const server: Server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch((err: unknown) => {
      if (!res.headersSent) answer(res, 500, `${String(err)}\n`);
      else res.destroy();
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
