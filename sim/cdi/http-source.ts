// What the simulated importer needs to know about a DataVolume's http source when it really
// downloads it, and the importer's words for each outcome. Only loopback URLs are downloaded (the
// simulator must never reach beyond this machine); any other URL keeps the simulated-time import.
// The wording is CDI's importer's (cmd/cdi-importer, pkg/importer/http-datasource.go,
// pkg/importer/checksum.go, pkg/util/checksum): its termination message becomes the
// DataVolume's Running condition message. Pure.
import type { DataVolume } from '../world.ts';

export const HASH_ALGORITHMS = ['md5', 'sha1', 'sha256', 'sha512'] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];
const HEX_LENGTH: Record<HashAlgorithm, number> = { md5: 32, sha1: 40, sha256: 64, sha512: 128 };

export type ParsedChecksum = { ok: true; algorithm: HashAlgorithm; hex: string } | { ok: false; error: string };

/** CDI's checksum.ParseAndValidate: "algorithm:hex", case and surrounding space ignored. */
export function parseChecksum(value: string): ParsedChecksum {
  const colon = value.indexOf(':');
  if (colon < 0) return { ok: false, error: `invalid checksum format: expected 'algorithm:hash', got '${value}'` };
  const algorithm = value.slice(0, colon).trim().toLowerCase();
  const hex = value.slice(colon + 1).trim().toLowerCase();
  if (hex === '') return { ok: false, error: 'checksum hash value cannot be empty' };
  if (!(HASH_ALGORITHMS as readonly string[]).includes(algorithm)) {
    return { ok: false, error: `unsupported hash algorithm '${algorithm}': supported algorithms are: md5, sha1, sha256, sha512` };
  }
  const alg = algorithm as HashAlgorithm;
  if (hex.length !== HEX_LENGTH[alg]) return { ok: false, error: `invalid ${alg} hash length: expected ${HEX_LENGTH[alg]} hex characters, got ${hex.length}` };
  if (!/^[0-9a-f]*$/.test(hex)) return { ok: false, error: 'checksum hash is not valid hexadecimal: encoding/hex: invalid byte' };
  return { ok: true, algorithm: alg, hex };
}

/** Whether the URL's host is this machine's loopback: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
  const host = parsed.hostname.toLowerCase();
  if (host === 'localhost' || host === '[::1]') return true;
  const octets = host.split('.');
  return octets.length === 4 && octets[0] === '127' && octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255);
}

/** A DataVolume's http source that the simulated importer downloads for real. */
export interface LiveHttpImport {
  url: string;
  /** The parsed `checksum`, when one is given. */
  checksum?: ParsedChecksum;
  /** ConfigMap (in the DataVolume's namespace) whose values are extra CA certificates for https. */
  certConfigMap?: string;
  /** Secret (in the DataVolume's namespace) with `accessKeyId` and `secretKey` for basic auth. */
  secretRef?: string;
}

/** The http source to download for real, when the DataVolume has one on a loopback URL. */
export function liveHttpImport(dv: DataVolume): LiveHttpImport | undefined {
  const http = dv.spec?.source?.http;
  if (!http || dv.spec?.sourceRef) return undefined;
  const url = http['url'];
  if (typeof url !== 'string' || !isLoopbackUrl(url)) return undefined;
  const text = (key: string) => (typeof http[key] === 'string' && http[key] !== '' ? http[key] : undefined);
  const checksum = text('checksum');
  const certConfigMap = text('certConfigMap');
  const secretRef = text('secretRef');
  return {
    url,
    ...(checksum !== undefined ? { checksum: parseChecksum(checksum) } : {}),
    ...(certConfigMap !== undefined ? { certConfigMap } : {}),
    ...(secretRef !== undefined ? { secretRef } : {}),
  };
}

/**
 * What the importer pod of one attempt is doing, as the download shell reports it. Attempts
 * count from 1; each failed attempt is one container restart.
 */
export type DownloadView =
  /** Reading the body; `totalBytes` is the Content-Length when the server sent one. */
  | { phase: 'reading'; attempt: number; bytesRead: number; totalBytes?: number }
  /** The body was read to its end; `digest` is its hex hash in the checksum's algorithm. */
  | { phase: 'done'; attempt: number; bytesRead: number; digest?: string }
  /** The importer exited with this termination message at `endedAt` (epoch ms). */
  | { phase: 'failed'; attempt: number; message: string; endedAt: number }
  /** The pod cannot start: a ConfigMap or Secret it mounts is missing. */
  | { phase: 'waiting'; attempt: number; reason: string; message: string };

/** The importer's progress: of Content-Length while reading, never 100% before the end; "N/A" when unknown. */
export function downloadFraction(bytesRead: number, totalBytes: number | undefined): number | undefined {
  if (totalBytes === undefined || !(totalBytes > 0)) return undefined;
  return Math.min(0.9999, Math.max(0, bytesRead / totalBytes));
}

/** The termination message of a download whose bytes do not hash to the checksum (reason ChecksumError). */
export function checksumMismatchMessage(algorithm: HashAlgorithm, expected: string, calculated: string): string {
  return `Unable to process data: Unable to transfer source data to scratch space: checksum validation failed: checksum mismatch: expected ${algorithm}:${expected}, calculated ${algorithm}:${calculated}`;
}

/** The CDI reason of the Running condition after a checksum mismatch. */
export const CHECKSUM_ERROR_REASON = 'ChecksumError';

/** The importer's message when the server answers anything but 200. */
export function httpStatusMessage(statusCode: number, statusText: string | undefined): string {
  const status = statusText ? `${statusCode} ${statusText}` : String(statusCode);
  return `Unable to connect to http data source: expected status code 200, got ${statusCode}. Status: ${status}`;
}

/** The importer's message when no response arrives at all; `cause` in Go's net words. */
export function requestErrorMessage(url: string, cause: string): string {
  return `Unable to connect to http data source: HTTP request errored: Get "${url}": ${cause}`;
}

/** The importer's message when the checksum cannot be parsed (checked once the source answers). */
export function invalidChecksumMessage(error: string): string {
  return `Unable to connect to http data source: invalid checksum: ${error}`;
}

/** The importer's message when reading the body fails part way. */
export function transferErrorMessage(cause: string): string {
  return `Unable to process data: Unable to transfer source data to scratch space: ${cause}`;
}

/** A Node.js connection error in the words of Go's net package ("dial tcp 127.0.0.1:1: connect: connection refused"). */
export function goNetError(err: { code?: string; address?: string; port?: number; message?: string }): string {
  const host = err.address === undefined ? undefined : err.address.includes(':') ? `[${err.address}]:${err.port}` : `${err.address}:${err.port}`;
  const cause: Record<string, string> = {
    ECONNREFUSED: 'connect: connection refused',
    ECONNRESET: 'read: connection reset by peer',
    ETIMEDOUT: 'i/o timeout',
    EHOSTUNREACH: 'connect: no route to host',
  };
  if (err.code && cause[err.code] && host) return `dial tcp ${host}: ${cause[err.code]}`;
  return err.message ?? String(err.code ?? 'unknown error');
}

/**
 * Kubelet's crash-loop back-off before restarting a failed container: 10 s, doubling per
 * restart, at most 5 minutes (simulated ms).
 */
export function crashLoopBackoffMs(restarts: number): number {
  if (restarts <= 0) return 0;
  return Math.min(300_000, 10_000 * 2 ** Math.min(restarts - 1, 5));
}
