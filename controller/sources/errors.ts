// The one error type of image-source clients. Its `reason` is what the GoldenImage controller
// writes into its condition, so every failure, from DNS to a bad checksum line, maps to one of a
// small fixed set (docs/image-sources.md lists them).

export const SOURCE_ERROR_REASONS = [
  'SourceUnreachable',
  'Unauthorized',
  'TagNotFound',
  'NotFound',
  'RateLimited',
  'ServerError',
  'ResponseTooLarge',
  'TooManyRedirects',
  'Malformed',
] as const;

export type SourceErrorReason = (typeof SOURCE_ERROR_REASONS)[number];

export interface SourceErrorDetails {
  /** The HTTP status that caused the error, when there was one. */
  status?: number;
  /** RateLimited: how long the server asked us to wait; the caller requeues after it. */
  retryAfterMs?: number;
  url?: string;
}

export class SourceError extends Error {
  readonly reason: SourceErrorReason;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly url: string | undefined;

  constructor(reason: SourceErrorReason, message: string, details: SourceErrorDetails = {}) {
    super(message);
    this.name = 'SourceError';
    this.reason = reason;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.url = details.url;
  }
}
