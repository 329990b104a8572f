// Discovery for registry sources: HEAD of a manifest (never GET: registries count GETs as pulls)
// through the OCI distribution API (GET only for what a HEAD cannot tell, such as signatures), with the registry's own auth (Basic, or the Bearer token
// flow with tokens cached per host, scope and credentials until shortly before they expire) and
// the last ETag sent back so an unchanged tag costs a 304.
import { createHash } from 'node:crypto';
import { SourceError } from './errors.ts';
import { basicAuthorization, errorForStatus, headerValue, httpGet, type BasicCredentials, type HttpResponse } from './http-client.ts';

/**
 * All four manifest types, as a client must send them: without Accept a registry converts a Docker
 * v2 image to schema1 (another digest), and without the OCI types an OCI manifest is a 404.
 */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
] as const;

const DIGEST = /^sha256:[a-f0-9]{64}$/;
export const DEFAULT_REGISTRY_TIMEOUT_MS = 30_000;

export interface RegistryRequestOptions {
  credentials?: BasicCredentials;
  caPEM?: string;
  /** The whole call: the manifest request, an auth challenge and a token request together. */
  timeoutMs?: number;
}

export interface HeadManifestOptions extends RegistryRequestOptions {
  /** Host-qualified, without tag: registry.example:5000/containerdisks/fedora. */
  repository: string;
  tag?: string;
  digest?: string;
  /** The ETag of the last answer: a 304 then means the tag still names the same manifest. */
  etag?: string;
}

export type ManifestHead = { notModified: false; digest: string; mediaType: string | undefined; etag: string | undefined } | { notModified: true };

export async function headManifest(opts: HeadManifestOptions): Promise<ManifestHead> {
  if (opts.digest !== undefined && !DIGEST.test(opts.digest)) throw new SourceError('Malformed', `${JSON.stringify(opts.digest)} is not a sha256:<64 hex> digest`);
  const reference = opts.digest ?? opts.tag ?? 'latest';
  const res = await headManifestReference(opts.repository, reference, opts, opts.etag);
  const failure = errorForStatus(res, `HEAD ${res.url}`, opts.digest ? 'NotFound' : 'TagNotFound');
  if (failure) throw failure;
  if (res.status === 304) return { notModified: true };
  const digest = headerValue(res.headers['docker-content-digest']) ?? opts.digest;
  if (digest === undefined || !DIGEST.test(digest)) {
    throw new SourceError('Malformed', `HEAD ${res.url}: Docker-Content-Digest is ${digest === undefined ? 'missing' : JSON.stringify(digest)}, not sha256:<64 hex>`, { status: res.status, url: res.url });
  }
  if (opts.digest !== undefined && digest !== opts.digest) {
    throw new SourceError('Malformed', `HEAD ${res.url}: the registry answered with ${digest} for ${opts.digest}`, { status: res.status, url: res.url });
  }
  const mediaType = headerValue(res.headers['content-type'])?.split(';')[0]?.trim();
  return { notModified: false, digest, mediaType, etag: headerValue(res.headers.etag) };
}

/** Whether the repository still holds the manifest `digest` (a pinned version): 404 is false. */
export async function manifestExists(repository: string, digest: string, opts: RegistryRequestOptions = {}): Promise<boolean> {
  try {
    await headManifest({ ...opts, repository, digest });
    return true;
  } catch (err) {
    if (err instanceof SourceError && err.reason === 'NotFound') return false;
    throw err;
  }
}

/** The registry host (first path segment, with any port) and the repository name under it. */
export function splitRepository(repository: string): { host: string; name: string } {
  const slash = repository.indexOf('/');
  if (slash <= 0 || slash === repository.length - 1 || repository.includes('://') || /[@\s]/.test(repository)) {
    throw new SourceError('Malformed', `${JSON.stringify(repository)} is not a host-qualified repository such as registry.example/containerdisks/fedora`);
  }
  return { host: repository.slice(0, slash), name: repository.slice(slash + 1) };
}

async function headManifestReference(repository: string, reference: string, opts: RegistryRequestOptions, etag: string | undefined): Promise<HttpResponse> {
  const headers: Record<string, string> = { accept: MANIFEST_MEDIA_TYPES.join(', ') };
  if (etag) headers['if-none-match'] = etag;
  return registryRequest('HEAD', repository, `manifests/${reference}`, headers, opts);
}

export interface RegistryGetOptions extends RegistryRequestOptions {
  /** Host-qualified, without tag: registry.example:5000/containerdisks/fedora. */
  repository: string;
  /** Under /v2/<name>/: `manifests/<tag or digest>` or `blobs/<digest>`. */
  path: string;
  accept: string;
  /** Cap on the body (default the HTTP client's, 1 MiB). */
  maxBodyBytes?: number;
}

/**
 * GET of a registry path with the registry's auth, answered with whatever final status the
 * registry gave (see errorForStatus); for the few reads discovery's HEAD cannot do (signatures).
 */
export function registryGet(opts: RegistryGetOptions): Promise<HttpResponse> {
  return registryRequest('GET', opts.repository, opts.path, { accept: opts.accept }, opts, opts.maxBodyBytes);
}

/**
 * One request to `/v2/<name>/<path>`: a cached Bearer token first if there is one, then on a 401
 * the challenge's scheme (Basic with the credentials, or a token fetched for the pull scope), all
 * within one deadline.
 */
async function registryRequest(method: 'GET' | 'HEAD', repository: string, path: string, headers: Record<string, string>, opts: RegistryRequestOptions, maxBodyBytes?: number): Promise<HttpResponse> {
  const { host, name } = splitRepository(repository);
  const url = `https://${host}/v2/${name}/${path}`;
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_REGISTRY_TIMEOUT_MS);
  const remaining = (): number => {
    const ms = deadline - Date.now();
    if (ms <= 0) throw new SourceError('SourceUnreachable', `${method} ${url}: no answer within ${opts.timeoutMs ?? DEFAULT_REGISTRY_TIMEOUT_MS} ms`, { url });
    return ms;
  };
  const send = (authorization: string | undefined): Promise<HttpResponse> =>
    httpGet({ method, url, headers, authorization, caPEM: opts.caPEM, timeoutMs: remaining(), ...(maxBodyBytes !== undefined ? { maxBodyBytes } : {}) });

  const scope = `repository:${name}:pull`;
  const cacheKey = tokenCacheKey(host, scope, opts.credentials);
  const cached = cachedToken(cacheKey);
  // A host that asked for Basic before gets the credentials at once, as docker clients do: one
  // request per poll instead of a 401 and a retry.
  const preemptive = !cached && opts.credentials !== undefined && basicHosts.has(host);
  const first = await send(cached ? `Bearer ${cached}` : preemptive ? basicAuthorization(opts.credentials!) : undefined);
  if (first.status !== 401) return first;
  if (cached) tokens.delete(cacheKey);

  const challenge = pickChallenge(parseWWWAuthenticate(headerValue(first.headers['www-authenticate']) ?? ''));
  if (!challenge) return first;
  if (challenge.scheme === 'basic') {
    if (!opts.credentials) return withoutCredentials(first);
    if (preemptive) return first; // these credentials were just refused
    rememberBasicHost(host);
    return send(basicAuthorization(opts.credentials));
  }
  basicHosts.delete(host);
  const token = await fetchToken(host, challenge.params, scope, opts, remaining);
  return send(`Bearer ${token}`);
}

function withoutCredentials(res: HttpResponse): HttpResponse {
  return { ...res, body: Buffer.from('the registry asks for credentials and none were given (pullSecretRef)') };
}

// --- WWW-Authenticate ---------------------------------------------------------------------------

export interface AuthChallenge {
  /** Lower-cased: basic, bearer, … */
  scheme: string;
  params: Record<string, string>;
}

/**
 * The challenges of a WWW-Authenticate value (RFC 9110 §11.6.1): `Scheme k=v, k="quoted, \"v\""`,
 * several challenges separated by commas. Unreadable parts are skipped, never thrown.
 */
export function parseWWWAuthenticate(value: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  const token = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
  let i = 0;
  const skip = (chars: RegExp): void => {
    while (i < value.length && chars.test(value[i] as string)) i++;
  };
  const readToken = (): string | undefined => {
    token.lastIndex = i;
    const m = token.exec(value);
    if (!m) return undefined;
    i = token.lastIndex;
    return m[0];
  };
  const readQuoted = (): string => {
    let out = '';
    for (i++; i < value.length && value[i] !== '"'; i++) {
      if (value[i] === '\\' && i + 1 < value.length) i++;
      out += value[i];
    }
    i++; // the closing quote
    return out;
  };
  while (i < value.length) {
    skip(/[\s,]/);
    const scheme = readToken();
    if (scheme === undefined) {
      i++; // junk between challenges
      continue;
    }
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    for (;;) {
      skip(/[\s,]/);
      const start = i;
      const key = readToken();
      skip(/\s/);
      if (key === undefined || value[i] !== '=') {
        i = start; // the next challenge's scheme, or junk the outer loop steps over
        break;
      }
      i++;
      skip(/\s/);
      challenge.params[key.toLowerCase()] = value[i] === '"' ? readQuoted() : (readToken() ?? '');
    }
  }
  return challenges;
}

function pickChallenge(challenges: AuthChallenge[]): AuthChallenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer' && c.params.realm) ?? challenges.find((c) => c.scheme === 'basic');
}

// --- Basic hosts --------------------------------------------------------------------------------

const MAX_BASIC_HOSTS = 512;
/** Registries that answered with a Basic challenge; bounded, oldest forgotten first. */
const basicHosts = new Set<string>();

function rememberBasicHost(host: string): void {
  basicHosts.delete(host);
  while (basicHosts.size >= MAX_BASIC_HOSTS) basicHosts.delete(basicHosts.values().next().value as string);
  basicHosts.add(host);
}

// --- Bearer tokens ------------------------------------------------------------------------------

/** Tokens are used until this long before they expire, so none expires in flight. */
const TOKEN_EXPIRY_MARGIN_MS = 10_000;
/** Distribution's default when the answer has no expires_in. */
const DEFAULT_TOKEN_LIFETIME_S = 60;
const MAX_CACHED_TOKENS = 512;

/** host + scope + whose credentials → token; pruned of expired entries on every insert and bounded. */
const tokens = new Map<string, { token: string; expiresAt: number }>();

function tokenCacheKey(host: string, scope: string, credentials: BasicCredentials | undefined): string {
  // Different pull secrets may see different repositories: a token is theirs alone.
  const who = credentials ? createHash('sha256').update(`${credentials.username}\0${credentials.password}`).digest('hex').slice(0, 16) : 'anonymous';
  return `${host} ${scope} ${who}`;
}

function cachedToken(key: string, now = Date.now()): string | undefined {
  const entry = tokens.get(key);
  if (entry && entry.expiresAt > now) return entry.token;
  if (entry) tokens.delete(key);
  return undefined;
}

function cacheToken(key: string, token: string, lifetimeMs: number, now = Date.now()): void {
  for (const [k, entry] of tokens) if (entry.expiresAt <= now) tokens.delete(k);
  while (tokens.size >= MAX_CACHED_TOKENS) tokens.delete(tokens.keys().next().value as string);
  if (lifetimeMs > TOKEN_EXPIRY_MARGIN_MS) tokens.set(key, { token, expiresAt: now + lifetimeMs - TOKEN_EXPIRY_MARGIN_MS });
}

/** How many tokens are cached (tests watch the cache stay bounded). */
export function cachedTokenCount(): number {
  return tokens.size;
}

async function fetchToken(host: string, params: Record<string, string>, scope: string, opts: RegistryRequestOptions, remaining: () => number): Promise<string> {
  let url: URL;
  try {
    url = new URL(params.realm ?? '');
  } catch {
    throw new SourceError('Malformed', `the registry's Bearer challenge names no usable realm: ${JSON.stringify(params.realm)}`);
  }
  const tokenScope = params.scope ?? scope;
  if (params.service) url.searchParams.set('service', params.service);
  url.searchParams.set('scope', tokenScope);
  const res = await httpGet({ method: 'GET', url: url.href, headers: { accept: 'application/json' }, basicAuth: opts.credentials, caPEM: opts.caPEM, timeoutMs: remaining() });
  const failure = errorForStatus(res, `GET ${url.origin}${url.pathname} (registry token)`);
  if (failure) throw failure;
  let answer: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    answer = JSON.parse(res.body.toString('utf8')) as typeof answer;
  } catch {
    throw new SourceError('Malformed', `GET ${url.origin}${url.pathname}: the token answer is not JSON`, { status: res.status, url: res.url });
  }
  const token = typeof answer?.token === 'string' && answer.token !== '' ? answer.token : answer?.access_token;
  if (typeof token !== 'string' || token === '') {
    throw new SourceError('Malformed', `GET ${url.origin}${url.pathname}: the token answer has neither token nor access_token`, { status: res.status, url: res.url });
  }
  const lifetimeS = typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : DEFAULT_TOKEN_LIFETIME_S;
  cacheToken(tokenCacheKey(host, tokenScope, opts.credentials), token, lifetimeS * 1000);
  return token;
}

