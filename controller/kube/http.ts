// The one place that speaks HTTP to the API server: keep-alive connections, client-side QPS and
// burst, a timeout on every request, and errors that carry the API server's Status. Watches are
// left to client-node's ListWatch (runtime/informer.ts).
import { Agent, request, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { TokenBucket } from './rate-limiter.ts';

export interface KubeHttpOptions {
  /** Client-side rate limit (client-go defaults: 5 QPS, burst 10; 0 disables). */
  qps?: number;
  burst?: number;
  timeoutMs?: number;
  maxSockets?: number;
  /** Counts every request by verb, for benchmarks and the zero-writes-at-rest tests. */
  onRequest?: (method: string, path: string) => void;
}

export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly body: unknown;

  constructor(status: number, reason: string, message: string, body: unknown) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.body = body;
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

export class KubeHttp {
  private readonly server: URL;
  private readonly base: Promise<RequestOptions>;
  private readonly limiter: TokenBucket;
  private readonly timeoutMs: number;
  private readonly onRequest?: (method: string, path: string) => void;

  constructor(kc: KubeConfig, options: KubeHttpOptions = {}) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig names no current cluster');
    this.server = new URL(cluster.server);
    this.limiter = new TokenBucket(options.qps ?? 5, options.burst ?? 10);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.onRequest = options.onRequest;
    const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 32 });
    this.base = (async () => {
      const opts: RequestOptions = { agent };
      await kc.applyToHTTPSOptions(opts);
      return opts;
    })();
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    await this.limiter.take();
    this.onRequest?.(method, path);
    const base = await this.base;
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          ...base,
          protocol: this.server.protocol,
          hostname: this.server.hostname,
          port: this.server.port,
          method,
          path: `${this.server.pathname.replace(/\/$/, '')}${path}`,
          headers: {
            ...(base.headers ?? {}),
            Accept: 'application/json',
            ...(payload !== undefined ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) } : {}),
          },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
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
            reject(new ApiError(status, s.reason ?? '', `${method} ${path}: ${status} ${s.message ?? text.slice(0, 300)}`, parsed));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
}
