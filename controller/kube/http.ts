// The one place that speaks HTTP to the API server: keep-alive connections, client-side QPS and
// burst, a timeout on every request (and an optional deadline or AbortSignal per request), a fence
// that refuses every further request once the process must stop writing (lost leadership), and
// errors that carry the API server's Status. Watches are streams opened here (openStream) and read
// by kube/watch-stream.ts, on connections of their own.
//
// Credentials are taken afresh for every request, never once at start: applyToHTTPSOptions
// re-runs exec plugins (and client-node's OIDC refreshes) when their tokens expire, and a token
// file (the in-cluster ServiceAccount's) is re-read as soon as the kubelet rotates it.
import { stat, readFile } from 'node:fs/promises';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Agent, request, type RequestOptions as HttpsRequestOptions } from 'node:https';
import type { KubeConfigLike } from './kubeconfig.ts';
import { TokenBucket, type Lane } from './rate-limiter.ts';

export interface KubeHttpOptions {
  /** Client-side rate limit (client-go defaults: 5 QPS, burst 10; 0 disables). */
  qps?: number;
  burst?: number;
  timeoutMs?: number;
  maxSockets?: number;
  /** Counts every request by verb, for benchmarks and the zero-writes-at-rest tests. */
  onRequest?: (method: string, path: string) => void;
  /** Told of every request's end, for metrics. */
  observer?: RequestObserver;
}

/** What the client reports of each request (client-go's rest_client metrics). */
export interface RequestObserver {
  /** code: the HTTP status, or '<error>' when no answer came (client-go's label for it). */
  completed(method: string, code: string, host: string, seconds: number): void;
}

/** A token file read again whenever it changes (kubelet swaps projected tokens in atomically). */
export class TokenFile {
  readonly path: string;
  private seen: { mtimeMs: number; ino: number; size: number; token: string } | undefined;

  constructor(path: string) {
    this.path = path;
  }

  async token(): Promise<string> {
    const s = await stat(this.path);
    const seen = this.seen;
    if (seen && seen.mtimeMs === s.mtimeMs && seen.ino === s.ino && seen.size === s.size) return seen.token;
    const token = (await readFile(this.path, 'utf8')).trim();
    this.seen = { mtimeMs: s.mtimeMs, ino: s.ino, size: s.size, token };
    return token;
  }
}

/**
 * The token file of the kubeconfig's current user, if any: its `tokenFile`, or where
 * client-node's loadFromCluster puts the ServiceAccount's.
 */
export function tokenFileOf(kc: KubeConfigLike): string | undefined {
  const user = kc.getCurrentUser() as { tokenFile?: unknown; authProvider?: { config?: { tokenFile?: unknown } } } | null;
  const file = user?.tokenFile ?? user?.authProvider?.config?.tokenFile;
  return typeof file === 'string' && file !== '' ? file : undefined;
}

/** Per-request options: a deadline shorter than the client's timeout, or a caller's abort. */
export interface RequestOptions {
  /** The whole request (rate-limiter wait included) must finish within this many ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The rate limiter's lane: 'background' spends only its surplus (see TokenBucket). */
  lane?: Lane;
}

/** Refused without being sent: the client was fenced (see KubeHttp.fence). */
export class FencedError extends Error {
  readonly fenceReason: string;

  constructor(method: string, path: string, reason: string) {
    super(`${method} ${path}: not sent, the client is fenced: ${reason}`);
    this.fenceReason = reason;
  }
}

export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly body: unknown;
  /** The answer's Retry-After in seconds, when it had one. */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, reason: string, message: string, body: unknown, retryAfterSeconds?: number) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.body = body;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  get notFound(): boolean {
    return this.status === 404;
  }

  get conflict(): boolean {
    return this.status === 409;
  }

  get alreadyExists(): boolean {
    return this.status === 409 && this.reason === 'AlreadyExists';
  }

  /** The request itself is refused (schema, CEL, admission): retrying it cannot succeed. */
  get invalid(): boolean {
    if (this.status === 422 || this.status === 400) return true;
    // Server-side apply reports a value of the wrong type for the schema as a 500.
    return this.status === 500 && this.statusMessage.includes('failed to create typed patch object');
  }

  /** The API server's own message (Status.message), without the request line. */
  get statusMessage(): string {
    const m = (this.body as { message?: unknown } | undefined)?.message;
    return typeof m === 'string' ? m : this.message;
  }
}

/** Retries after Retry-After before the error goes to the caller (client-go's maxRetries). */
export const MAX_RETRY_AFTER_RETRIES = 10;
/** A Retry-After longer than this is cut to it: the caller's own backoff takes over beyond. */
export const MAX_RETRY_AFTER_MS = 10_000;

/** Retry-After as seconds (the delta-seconds form the API server sends), or undefined. */
export function parseRetryAfter(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^\s*\d+\s*$/.test(value)) return undefined;
  return Number(value);
}

/**
 * How long to wait before sending a refused request again, or undefined to give up, as client-go
 * does: only when the API server said when (Retry-After) and at most MAX_RETRY_AFTER_RETRIES
 * times. A 429 was not processed, so any verb is sent again; a 5xx may have been, so only reads
 * are. A Retry-After of 0 still waits a little, so that a shedding server is not hammered.
 */
export function retryAfterDelayMs(status: number, method: string, retryAfterSeconds: number | undefined, retriesSoFar: number): number | undefined {
  if (retryAfterSeconds === undefined || retriesSoFar >= MAX_RETRY_AFTER_RETRIES) return undefined;
  const read = method === 'GET' || method === 'HEAD';
  if (status !== 429 && !(read && status >= 500 && status <= 504)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(100, retryAfterSeconds * 1000));
}

export class KubeHttp {
  private readonly server: URL;
  private readonly base: Promise<HttpsRequestOptions>;
  private readonly limiter: TokenBucket;
  private readonly timeoutMs: number;
  private readonly onRequest?: (method: string, path: string) => void;
  private readonly observer?: RequestObserver;
  private readonly kc: KubeConfigLike;
  private readonly tokenFile: TokenFile | undefined;
  private fenced: string | undefined;
  private readonly inFlight = new Set<ClientRequest>();
  /**
   * Streams (watches) hold their connection for minutes: they get sockets of their own, so that
   * however many are open, none takes one of the maxSockets the plain requests share.
   */
  private readonly streams: Promise<HttpsRequestOptions>;

  constructor(kc: KubeConfigLike, options: KubeHttpOptions = {}) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig names no current cluster');
    this.kc = kc;
    this.server = new URL(cluster.server);
    this.limiter = new TokenBucket(options.qps ?? 5, options.burst ?? 10);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.onRequest = options.onRequest;
    if (options.observer) this.observer = options.observer;
    const file = tokenFileOf(kc);
    this.tokenFile = file ? new TokenFile(file) : undefined;
    const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 32 });
    this.base = (async () => {
      const opts: HttpsRequestOptions = {};
      await kc.applyToHTTPSOptions(opts);
      // TLS material stays in the options; our keep-alive agent replaces client-node's unless a
      // proxy needs its agent.
      return { ...opts, agent: cluster.proxyUrl ? opts.agent : agent, headers: {} };
    })();
    const streamAgent = new Agent({ keepAlive: true });
    this.streams = this.base.then((opts) => ({ ...opts, agent: cluster.proxyUrl ? opts.agent : streamAgent }));
  }

  /** The request's credentials, fresh (see the header comment). */
  private async credentials(): Promise<{ headers: OutgoingHttpHeaders; auth?: string }> {
    const opts: HttpsRequestOptions = {};
    await this.kc.applyToHTTPSOptions(opts);
    // client-node writes its headers as a plain object (never the array form).
    const headers: OutgoingHttpHeaders = { ...(opts.headers as OutgoingHttpHeaders | undefined) };
    if (this.tokenFile) headers.Authorization = `Bearer ${await this.tokenFile.token()}`;
    return { headers, ...(opts.auth ? { auth: opts.auth } : {}) };
  }

  /**
   * Refuses every request from now on, for good: those not yet sent (waiting for the rate limiter
   * or not begun) reject with a FencedError and are never sent, and those in flight are aborted.
   * Used when leadership is lost, so that no reconcile in flight writes after it.
   */
  fence(reason: string): void {
    if (this.fenced !== undefined) return;
    this.fenced = reason;
    for (const req of this.inFlight) req.destroy(new Error(`${req.method} ${req.path}: aborted, the client is fenced: ${reason}`));
    this.inFlight.clear();
  }

  /** Why the client was fenced, or undefined while it is not. */
  get fenceReason(): string | undefined {
    return this.fenced;
  }

  /** One request, sent again after the API server's Retry-After (retryAfterDelayMs) within its deadline. */
  async request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json', options: RequestOptions = {}): Promise<T> {
    const started = Date.now();
    for (let retries = 0; ; retries++) {
      try {
        return await this.send<T>(method, path, body, contentType, options, started);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        const delay = retryAfterDelayMs(err.status, method, err.retryAfterSeconds, retries);
        const { timeoutMs, signal } = options;
        if (delay === undefined || (timeoutMs !== undefined && Date.now() - started + delay >= timeoutMs) || signal?.aborted || this.fenced !== undefined) throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /**
   * Waits for the rate limiter and takes fresh credentials, refusing (throwing) before and again
   * right before sending, so that nothing goes out once fenced, aborted or past its deadline.
   */
  private async admit(method: string, path: string, options: RequestOptions, started: number, connections: Promise<HttpsRequestOptions>): Promise<{ base: HttpsRequestOptions; credentials: Awaited<ReturnType<KubeHttp['credentials']>> }> {
    const { timeoutMs, signal } = options;
    const refusal = (): Error | undefined => {
      if (this.fenced !== undefined) return new FencedError(method, path, this.fenced);
      if (signal?.aborted) return new Error(`${method} ${path}: aborted before it was sent: ${String(signal.reason)}`);
      if (timeoutMs !== undefined && Date.now() - started >= timeoutMs) return new Error(`${method} ${path}: not sent, its deadline of ${timeoutMs} ms passed`);
      return undefined;
    };
    const early = refusal();
    if (early) throw early;
    await this.limiter.take(options.lane);
    const base = await connections;
    const credentials = await this.credentials();
    const late = refusal();
    if (late) throw late;
    this.onRequest?.(method, path);
    return { base, credentials };
  }

  /**
   * A GET whose answer is read as a stream (a watch): resolves with the response once the API
   * server answered 200, or rejects with its ApiError (or the connection's failure). Rate-limited
   * and fenced like every request; no idle timeout, since a quiet watch is normal (whoever reads
   * it decides when one is dead, and aborts it through the signal, before or after the answer).
   */
  async openStream(path: string, signal: AbortSignal): Promise<IncomingMessage> {
    const { base, credentials } = await this.admit('GET', path, { signal }, Date.now(), this.streams);
    const sentAt = performance.now();
    return new Promise<IncomingMessage>((resolve, reject) => {
      const onAbort = () => req.destroy(new Error(`GET ${path}: aborted: ${String(signal.reason)}`));
      const req = request({
        ...base,
        protocol: this.server.protocol,
        hostname: this.server.hostname,
        port: this.server.port,
        method: 'GET',
        path: `${this.server.pathname.replace(/\/$/, '')}${path}`,
        ...(credentials.auth ? { auth: credentials.auth } : {}),
        headers: { ...credentials.headers, Accept: 'application/json' },
      }, (res) => {
        this.observer?.completed('GET', String(res.statusCode ?? 0), this.server.host, (performance.now() - sentAt) / 1000);
        if (res.statusCode === 200) return resolve(res);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: { reason?: string; message?: string } | undefined;
          try {
            parsed = JSON.parse(text) as typeof parsed;
          } catch {
            // not JSON; the text is the message
          }
          const status = res.statusCode ?? 0;
          reject(new ApiError(status, parsed?.reason ?? '', `GET ${path}: ${status} ${parsed?.message ?? text.slice(0, 300)}`, parsed, parseRetryAfter(res.headers['retry-after'])));
        });
      });
      this.inFlight.add(req);
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => {
        this.inFlight.delete(req);
        signal.removeEventListener('abort', onAbort);
      });
      req.on('error', reject);
      req.end();
    });
  }

  private async send<T>(method: string, path: string, body: unknown, contentType: string, options: RequestOptions, started: number): Promise<T> {
    const { timeoutMs, signal } = options;
    const { base, credentials } = await this.admit(method, path, options, started, this.base);
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const sentAt = performance.now();
    return new Promise<T>((resolve, reject) => {
      let deadline: NodeJS.Timeout | undefined;
      let answered: number | undefined;
      let reported = false;
      const onAbort = () => req.destroy(new Error(`${method} ${path}: aborted: ${String(signal?.reason)}`));
      const settle = () => {
        clearTimeout(deadline);
        signal?.removeEventListener('abort', onAbort);
        this.inFlight.delete(req);
        if (reported) return;
        reported = true;
        this.observer?.completed(method, answered === undefined ? '<error>' : String(answered), this.server.host, (performance.now() - sentAt) / 1000);
      };
      const req = request(
        {
          ...base,
          protocol: this.server.protocol,
          hostname: this.server.hostname,
          port: this.server.port,
          method,
          path: `${this.server.pathname.replace(/\/$/, '')}${path}`,
          ...(credentials.auth ? { auth: credentials.auth } : {}),
          headers: {
            ...credentials.headers,
            Accept: 'application/json',
            ...(payload !== undefined ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) } : {}),
          },
          timeout: this.timeoutMs,
        },
        (res) => {
          answered = res.statusCode ?? 0;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            settle();
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON; keep the text
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(parsed as T);
            const s = (parsed ?? {}) as { reason?: string; message?: string };
            reject(new ApiError(status, s.reason ?? '', `${method} ${path}: ${status} ${s.message ?? text.slice(0, 300)}`, parsed, parseRetryAfter(res.headers['retry-after'])));
          });
          res.on('error', (err) => {
            settle();
            reject(err);
          });
        },
      );
      this.inFlight.add(req);
      if (timeoutMs !== undefined) {
        const left = Math.max(0, timeoutMs - (Date.now() - started));
        deadline = setTimeout(() => req.destroy(new Error(`${method} ${path}: no answer within its deadline of ${timeoutMs} ms`)), left);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => {
        settle();
        reject(err);
      });
      req.end(payload);
    });
  }
}
