// The simulated importer's real downloads of loopback http sources: one per DataVolume uid,
// streamed through a hash and counted, never kept; bounded by a connect timeout, an idle timeout
// (CDI's importer cancels a transfer that makes no progress) and a total deadline. The
// reconciler reads each download's view and decides (transfer.ts); this module only moves
// bytes. Downloads are cancelled when their DataVolume goes and pruned once it is finished.
import { createHash, type Hash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import {
  goNetError,
  httpStatusMessage,
  invalidChecksumMessage,
  requestErrorMessage,
  transferErrorMessage,
  type DownloadView,
  type ParsedChecksum,
} from './http-source.ts';

/** What the importer pod mounts, resolved by the caller: extra CAs and basic-auth credentials, or why the pod cannot start. */
export type PodInputs =
  | { ok: true; ca?: string[]; auth?: { username: string; password: string } }
  | { ok: false; reason: string; message: string };

export interface DownloadRequest {
  uid: string;
  /** The DataVolume's namespace/name, re-queued whenever the download settles. */
  key: string;
  attempt: number;
  url: string;
  checksum?: ParsedChecksum;
  /** Reads the ConfigMap and Secret the importer pod would mount. */
  inputs: (signal: AbortSignal) => Promise<PodInputs>;
}

export interface DownloadTimeouts {
  /** Real ms to wait for the response headers. */
  connectMs: number;
  /** Real ms without a byte before the transfer is cancelled. */
  idleMs: number;
  /** Real ms one attempt may take at most. */
  totalMs: number;
}

interface Download {
  key: string;
  view: DownloadView;
  controller: AbortController;
  /** Epoch ms of the last try to start a waiting pod. */
  triedAt: number;
}

/** A waiting pod is tried again at most this often (real ms). */
const WAITING_RETRY_MS = 1_000;

export class HttpImports {
  private readonly downloads = new Map<string, Download>();
  private readonly timeouts: DownloadTimeouts;
  private readonly settled: (key: string) => void;

  /** `settled` is called with the DataVolume's key when its download ends or its pod cannot start. */
  constructor(timeouts: DownloadTimeouts, settled: (key: string) => void) {
    this.timeouts = timeouts;
    this.settled = settled;
  }

  get size(): number {
    return this.downloads.size;
  }

  view(uid: string): DownloadView | undefined {
    const d = this.downloads.get(uid);
    return d ? { ...d.view } : undefined;
  }

  /** Starts the attempt unless it is already reading or ended; a waiting attempt is tried again. */
  start(req: DownloadRequest): void {
    const existing = this.downloads.get(req.uid);
    if (existing && existing.view.attempt > req.attempt) return;
    if (existing && existing.view.attempt === req.attempt) {
      if (existing.view.phase !== 'waiting' || Date.now() - existing.triedAt < WAITING_RETRY_MS) return;
    }
    existing?.controller.abort();
    const d: Download = { key: req.key, view: { phase: 'reading', attempt: req.attempt, bytesRead: 0 }, controller: new AbortController(), triedAt: Date.now() };
    this.downloads.set(req.uid, d);
    void this.run(req, d);
  }

  /** Cancels and forgets the DataVolume's download. */
  cancel(uid: string): void {
    this.downloads.get(uid)?.controller.abort();
    this.downloads.delete(uid);
  }

  /** Cancels the downloads of a key, except the one of the given uid (a DataVolume deleted and made anew keeps its name). */
  cancelKey(key: string, keepUid?: string): void {
    for (const [uid, d] of this.downloads) if (d.key === key && uid !== keepUid) this.cancel(uid);
  }

  /** Cancels the downloads of DataVolumes no longer alive. */
  prune(liveUids: ReadonlySet<string>): void {
    for (const uid of [...this.downloads.keys()]) if (!liveUids.has(uid)) this.cancel(uid);
  }

  stopAll(): void {
    for (const uid of [...this.downloads.keys()]) this.cancel(uid);
  }

  private current(uid: string, d: Download): boolean {
    return this.downloads.get(uid) === d && !d.controller.signal.aborted;
  }

  private async run(req: DownloadRequest, d: Download): Promise<void> {
    const { signal } = d.controller;
    let inputs: PodInputs;
    try {
      inputs = await req.inputs(AbortSignal.any([signal, AbortSignal.timeout(this.timeouts.connectMs)]));
    } catch (err) {
      inputs = { ok: false, reason: 'ContainerCreating', message: (err as Error).message };
    }
    if (!this.current(req.uid, d)) return;
    if (!inputs.ok) {
      d.view = { phase: 'waiting', attempt: req.attempt, reason: inputs.reason, message: inputs.message };
      this.settled(req.key);
      return;
    }
    const ended = await fetchAndHash(req, inputs, this.timeouts, signal, (bytesRead, totalBytes) => {
      if (this.current(req.uid, d)) d.view = { phase: 'reading', attempt: req.attempt, bytesRead, ...(totalBytes !== undefined ? { totalBytes } : {}) };
    });
    if (!this.current(req.uid, d)) return;
    d.view = ended.ok
      ? { phase: 'done', attempt: req.attempt, bytesRead: ended.bytesRead, ...(ended.digest !== undefined ? { digest: ended.digest } : {}) }
      : { phase: 'failed', attempt: req.attempt, message: ended.message, endedAt: Date.now() };
    this.settled(req.key);
  }
}

type Ended = { ok: true; bytesRead: number; digest?: string } | { ok: false; message: string };

/** One GET, its body streamed through the hash; resolves (never rejects) with how it ended. */
function fetchAndHash(
  req: DownloadRequest,
  inputs: Extract<PodInputs, { ok: true }>,
  timeouts: DownloadTimeouts,
  cancel: AbortSignal,
  progress: (bytesRead: number, totalBytes: number | undefined) => void,
): Promise<Ended> {
  return new Promise<Ended>((resolve) => {
    let settled = false;
    const finish = (e: Ended) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(totalTimer);
      cancel.removeEventListener('abort', onCancel);
      outgoing.destroy();
      resolve(e);
    };
    let response: IncomingMessage | undefined;
    // Before the headers a failure is a connection error; after them, a transfer error.
    const fail = (cause: string) => finish({ ok: false, message: response ? transferErrorMessage(cause) : requestErrorMessage(req.url, cause) });
    const onCancel = () => fail('context canceled');
    cancel.addEventListener('abort', onCancel);

    const url = new URL(req.url);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const outgoing = send(url, {
      method: 'GET',
      headers: { 'User-Agent': 'cdi-golang-importer' },
      // CDI adds the ConfigMap's certificates to the system's.
      ...(inputs.ca && inputs.ca.length > 0 ? { ca: [...rootCertificates, ...inputs.ca] } : {}),
      ...(inputs.auth ? { auth: `${inputs.auth.username}:${inputs.auth.password}` } : {}),
    });
    const connectTimer = setTimeout(() => fail('net/http: timeout awaiting response headers'), timeouts.connectMs);
    const totalTimer = setTimeout(() => fail('context deadline exceeded'), timeouts.totalMs);
    outgoing.setTimeout(timeouts.idleMs, () => fail('context canceled'));
    outgoing.on('error', (err: NodeJS.ErrnoException & { address?: string; port?: number }) => fail(goNetError(err)));
    outgoing.on('response', (res) => {
      response = res;
      clearTimeout(connectTimer);
      if (res.statusCode !== 200) {
        res.resume();
        return finish({ ok: false, message: httpStatusMessage(res.statusCode ?? 0, res.statusMessage) });
      }
      const sum = req.checksum;
      if (sum && !sum.ok) {
        res.resume();
        return finish({ ok: false, message: invalidChecksumMessage(sum.error) });
      }
      const lengthHeader = res.headers['content-length'];
      const totalBytes = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
      const hash: Hash | undefined = sum?.ok ? createHash(sum.algorithm) : undefined;
      let bytesRead = 0;
      progress(0, totalBytes);
      res.on('data', (chunk: Buffer) => {
        bytesRead += chunk.length;
        hash?.update(chunk);
        progress(bytesRead, totalBytes);
      });
      res.on('end', () => {
        // A body shorter than its Content-Length is Go's io.ErrUnexpectedEOF.
        if (!res.complete || (totalBytes !== undefined && bytesRead < totalBytes)) return fail('unexpected EOF');
        finish({ ok: true, bytesRead, ...(hash ? { digest: hash.digest('hex') } : {}) });
      });
      res.on('aborted', () => fail('unexpected EOF'));
      res.on('error', (err) => fail(res.complete ? err.message : 'unexpected EOF'));
    });
    outgoing.end();
    if (cancel.aborted) onCancel();
  });
}
