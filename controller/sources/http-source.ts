// Discovery for http sources with a checksumURL: a conditional GET of the checksum file (the
// validators of the last answer sent back, so an unchanged file costs a 304 and no body), then the
// checksum listed for the image URL's file name. A new checksum is a new version.
import { ChecksumFileError, checksumFor, imageFileName } from './checksum-file.ts';
import { DEFAULT_MAX_BODY_BYTES, errorForStatus, headerValue, httpGet, type BasicCredentials } from './http-client.ts';

export interface PollChecksumFileOptions {
  checksumURL: string;
  /** The image whose checksum is wanted: the last segment of its path names it in the file. */
  imageURL: string;
  caPEM?: string;
  credentials?: BasicCredentials;
  /** Validators from the last poll's answer. */
  etag?: string;
  lastModified?: string;
  timeoutMs?: number;
  connectTimeoutMs?: number;
  maxBytes?: number;
}

export type ChecksumPoll =
  | { notModified: false; checksum: string; etag: string | undefined; lastModified: string | undefined }
  | { notModified: true };

export async function pollChecksumFile(opts: PollChecksumFileOptions): Promise<ChecksumPoll> {
  const fileName = imageFileName(opts.imageURL);
  const headers: Record<string, string> = { accept: 'text/plain, */*;q=0.5' };
  // A server that sees If-None-Match ignores If-Modified-Since (RFC 9110 §13.2.2), so send the
  // stronger validator alone.
  if (opts.etag) headers['if-none-match'] = opts.etag;
  else if (opts.lastModified) headers['if-modified-since'] = opts.lastModified;
  const res = await httpGet({
    method: 'GET',
    url: opts.checksumURL,
    headers,
    basicAuth: opts.credentials,
    caPEM: opts.caPEM,
    timeoutMs: opts.timeoutMs,
    connectTimeoutMs: opts.connectTimeoutMs,
    maxBodyBytes: opts.maxBytes ?? DEFAULT_MAX_BODY_BYTES,
  });
  const failure = errorForStatus(res, `GET ${opts.checksumURL}`);
  if (failure) throw failure;
  if (res.status === 304) return { notModified: true };
  let checksum: string;
  try {
    checksum = checksumFor(res.body.toString('utf8'), fileName);
  } catch (err) {
    if (err instanceof ChecksumFileError) throw new ChecksumFileError(err.reason as 'Malformed' | 'NotFound', `${res.url}: ${err.message}`, err.line);
    throw err;
  }
  return { notModified: false, checksum, etag: headerValue(res.headers.etag), lastModified: headerValue(res.headers['last-modified']) };
}
