// A watch read as the API server writes it: one JSON event per line, handed on as each line is
// complete. The stream is abortable at any moment through its signal, before the API server has
// answered too (client-node's Watch can only be aborted once it answered, so a watch restarted
// while its request hung stayed open beside its successor).
import type { KubeHttp } from './http.ts';

export interface WatchEvent<T> {
  type: string;
  object: T;
}

export interface WatchRequest {
  /** The collection's path, for example /apis/kubevirt.io/v1/namespaces/ns/virtualmachines. */
  path: string;
  resourceVersion: string;
  labelSelector?: string;
  /** The API server ends the watch cleanly after this long (client-go picks 5 to 10 minutes). */
  timeoutSeconds: number;
}

/** The watch request's path and query, as client-go sends it. */
export function watchPath(request: WatchRequest): string {
  const query = new URLSearchParams({
    watch: 'true',
    allowWatchBookmarks: 'true',
    timeoutSeconds: String(request.timeoutSeconds),
    ...(request.resourceVersion !== '' ? { resourceVersion: request.resourceVersion } : {}),
    ...(request.labelSelector !== undefined ? { labelSelector: request.labelSelector } : {}),
  });
  return `${request.path}?${query.toString()}`;
}

/**
 * Streams the watch's events to onEvent until it ends: resolves when the API server closed it,
 * rejects with why it ended otherwise (a refusal as ApiError, a cut connection, a line that is
 * not JSON, an exception of onEvent, or the signal's abort).
 */
export async function streamWatch<T>(http: KubeHttp, request: WatchRequest, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
  const res = await http.openStream(watchPath(request), signal);
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      if (err === undefined) resolve();
      else reject(err instanceof Error ? err : new Error(String(err)));
    };
    let pending = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (settled) return;
      pending += chunk;
      let start = 0;
      for (let end = pending.indexOf('\n', start); end >= 0; end = pending.indexOf('\n', start)) {
        const line = pending.slice(start, end).trim();
        start = end + 1;
        if (line === '') continue;
        try {
          onEvent(JSON.parse(line) as WatchEvent<T>);
        } catch (err) {
          res.destroy();
          return settle(err);
        }
      }
      pending = pending.slice(start);
    });
    res.on('end', () => settle());
    res.on('error', (err) => settle(err));
    res.on('close', () => settle(res.complete ? undefined : new Error(`watch ${request.path}: the connection closed mid-stream`)));
  });
}
