// The one HTTP(S) client of image sources (registries, checksum files): GET and HEAD only, a
// deadline for the whole call and a shorter one for connecting (TCP and TLS), a cap on the body,
// redirects followed up to a limit with loops named, an extra CA per source, and keep-alive
// agents per CA kept in a small pruned pool. Failures are SourceErrors whose reason the
// controller reports; a 429's Retry-After is handed back, never slept on.
import { createHash } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { rootCertificates } from 'node:tls';
import { SourceError, type SourceErrorReason } from './errors.ts';

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Checksum files, manifests and token answers are small; anything bigger is not what we asked for. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_MAX_REDIRECTS = 5;

export interface BasicCredentials {
  username: string;
  password: string;
}

export interface HttpGet {
  method: 'GET' | 'HEAD';
  url: string;
  headers?: Record<string, string>;
  /** Basic credentials; sent only to the origin of `url`, never across a redirect to another. */
  basicAuth?: BasicCredentials;
  /** A ready Authorization header (Bearer …); same origin rule as basicAuth, which it overrides. */
  authorization?: string;
  /** PEM CA bundle trusted in addition to the system's roots. */
  caPEM?: string;
  /** The whole call, redirects included. */
  timeoutMs?: number;
  /** Each new connection, TCP and TLS handshake. */
  connectTimeoutMs?: number;
  maxBodyBytes?: number;
  maxRedirects?: number;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** GET or HEAD `req.url`, following redirects; any final status is returned (see errorForStatus). */
export async function httpGet(req: HttpGet): Promise<HttpResponse> {
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const maxRedirects = req.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const origin = parseURL(req.url).origin;
  const authorization = req.authorization ?? (req.basicAuth ? basicAuthorization(req.basicAuth) : undefined);
  const visited: string[] = [];
  let url = parseURL(req.url);
  for (;;) {
    visited.push(url.href);
    const headers: Record<string, string> = { 'user-agent': 'virtfleet', ...req.headers };
    if (authorization && url.origin === origin) headers.authorization = authorization;
    const res = await send(url, req.method, headers, {
      agent: agentFor(url.protocol, req.caPEM),
      deadline,
      timeoutMs,
      connectTimeoutMs: req.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      maxBodyBytes: req.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    });
    const location = res.headers.location;
    if (!REDIRECTS.has(res.status) || location === undefined) return res;
    const next = parseURL(location, url);
    if (visited.includes(next.href)) {
      throw new SourceError('TooManyRedirects', `${req.method} ${req.url}: redirect loop: ${[...visited, next.href].join(' → ')}`, { status: res.status, url: req.url });
    }
    if (visited.length > maxRedirects) {
      throw new SourceError('TooManyRedirects', `${req.method} ${req.url}: more than ${maxRedirects} redirects (last to ${next.href})`, { status: res.status, url: req.url });
    }
    url = next;
  }
}

export function basicAuthorization({ username, password }: BasicCredentials): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

function parseURL(url: string, base?: URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url, base);
  } catch {
    throw new SourceError('Malformed', `${JSON.stringify(url)} is not a URL`, { url });
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new SourceError('Malformed', `${parsed.href}: only http and https URLs are supported`, { url });
  }
  return parsed;
}

interface SendOptions {
  agent: HttpAgent;
  deadline: number;
  timeoutMs: number;
  connectTimeoutMs: number;
  maxBodyBytes: number;
}

/** Sockets whose connection (and TLS handshake) is complete: a reused one needs no connect timer. */
const connectedSockets = new WeakSet<Socket>();

function send(url: URL, method: string, headers: Record<string, string>, opts: SendOptions): Promise<HttpResponse> {
  const what = `${method} ${url.href}`;
  return new Promise<HttpResponse>((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    let settled = false;
    const finish = (err: unknown, res?: HttpResponse): void => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      if (res) resolve(res);
      else reject(asSourceError(err, what, url.href));
    };
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req: ClientRequest = request(url, { method, headers, agent: opts.agent });
    const abort = (message: string): void => {
      const err = new SourceError('SourceUnreachable', `${what}: ${message}`, { url: url.href });
      req.destroy(err);
      finish(err);
    };
    timers.push(setTimeout(() => abort(`no complete response within ${opts.timeoutMs} ms`), Math.max(0, opts.deadline - Date.now())));
    req.on('socket', (socket: Socket) => {
      if (connectedSockets.has(socket)) return;
      const connected = url.protocol === 'https:' ? 'secureConnect' : 'connect';
      const timer = setTimeout(() => abort(`could not connect within ${opts.connectTimeoutMs} ms`), opts.connectTimeoutMs);
      timers.push(timer);
      socket.once(connected, () => {
        connectedSockets.add(socket);
        clearTimeout(timer);
      });
    });
    req.on('error', (err) => finish(err));
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const done = (body: Buffer): void => finish(undefined, { status, headers: res.headers, body, url: url.href });
      if (method === 'HEAD' || status === 204 || status === 304) {
        res.resume();
        res.on('end', () => done(Buffer.alloc(0)));
        res.on('error', (err) => finish(err));
        return;
      }
      const tooLarge = (): void => {
        const err = new SourceError('ResponseTooLarge', `${what}: the response is larger than ${opts.maxBodyBytes} bytes`, { status, url: url.href });
        finish(err); // first: destroying emits 'aborted' at once
        res.destroy();
        req.destroy();
      };
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > opts.maxBodyBytes) return tooLarge();
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBodyBytes) return tooLarge();
        chunks.push(chunk);
      });
      res.on('end', () => done(Buffer.concat(chunks)));
      res.on('error', (err) => finish(err));
      res.on('aborted', () => finish(new Error('the connection closed before the response was complete')));
    });
    req.end();
  });
}

/** TLS verification failures, named as OpenSSL names them; the message carries its words. */
const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL|HOSTNAME|DEPTH_ZERO/;

function asSourceError(err: unknown, what: string, url: string): SourceError {
  if (err instanceof SourceError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  // Node appends advice about its own flags to certificate errors; the system's words come first.
  const words = (e instanceof Error ? e.message : String(err)).replace(/^Error: /, '').replace(/; if the root CA is installed locally.*$/s, '');
  const kind = code && TLS_CODES.test(code) ? 'TLS: ' : '';
  return new SourceError('SourceUnreachable', `${what}: ${kind}${words}${code && !words.includes(code) ? ` (${code})` : ''}`, { url });
}

/**
 * The error a final status stands for, or undefined for 2xx and 304. `notFound` names what a 404
 * means to the caller (a manifest's 404 is TagNotFound).
 */
export function errorForStatus(res: Pick<HttpResponse, 'status' | 'headers' | 'body' | 'url'>, what: string, notFound: Extract<SourceErrorReason, 'TagNotFound' | 'NotFound'> = 'NotFound', nowMs = Date.now()): SourceError | undefined {
  const { status } = res;
  if ((status >= 200 && status < 300) || status === 304) return undefined;
  const said = `${what}: ${status}${excerpt(res.body)}`;
  const details = { status, url: res.url };
  if (status === 401 || status === 403 || status === 407) return new SourceError('Unauthorized', said, details);
  if (status === 404 || status === 410) return new SourceError(notFound, said, details);
  const retryAfterMs = parseRetryAfter(headerValue(res.headers['retry-after']), nowMs);
  if (status === 429) {
    return new SourceError('RateLimited', `${said}${retryAfterMs === undefined ? '' : ` (retry after ${Math.ceil(retryAfterMs / 1000)} s)`}`, { ...details, retryAfterMs });
  }
  return new SourceError('ServerError', said, { ...details, retryAfterMs });
}

/** Retry-After as delay-seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Date.parse reads IMF-fixdate and the obsolete RFC 850 and asctime forms HTTP still allows.
  const at = /[a-z]/i.test(trimmed) ? Date.parse(trimmed) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The start of an error body (registries explain themselves in JSON), on one line. */
function excerpt(body: Buffer): string {
  const text = body.subarray(0, 300).toString('utf8').replace(/\s+/g, ' ').trim();
  return text === '' ? '' : `: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
}

// Keep-alive agents, one per protocol and CA bundle. The pool is bounded and forgets agents idle
// for IDLE_AGENT_MS, closing their sockets, so CA rotations and deleted images leave nothing behind.
const MAX_AGENTS = 32;
const IDLE_AGENT_MS = 10 * 60_000;

interface PooledAgent {
  agent: HttpAgent;
  lastUsed: number;
}

const agents = new Map<string, PooledAgent>();

function agentFor(protocol: string, caPEM: string | undefined, now = Date.now()): HttpAgent {
  const key = protocol === 'https:' ? `https:${caPEM ? createHash('sha256').update(caPEM).digest('hex') : 'system'}` : 'http:';
  const found = agents.get(key);
  if (found) {
    found.lastUsed = now;
    // Map order is least recently used first.
    agents.delete(key);
    agents.set(key, found);
    return found.agent;
  }
  pruneAgents(now);
  const options = { keepAlive: true, maxSockets: 8, timeout: 30_000 };
  const agent = protocol === 'https:' ? new HttpsAgent({ ...options, ...(caPEM ? { ca: [...rootCertificates, caPEM] } : {}) }) : new HttpAgent(options);
  agents.set(key, { agent, lastUsed: now });
  return agent;
}

function pruneAgents(now: number): void {
  for (const [key, entry] of agents) {
    if (now - entry.lastUsed > IDLE_AGENT_MS || agents.size >= MAX_AGENTS) {
      entry.agent.destroy();
      agents.delete(key);
    }
  }
}

/** Closes every kept-alive connection (at shutdown, and after tests). */
export function closeSourceConnections(): void {
  for (const { agent } of agents.values()) agent.destroy();
  agents.clear();
}
