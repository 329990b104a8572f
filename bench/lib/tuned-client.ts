// The API server's own limit for writing a set of objects, as a well-tuned client reaches it: a
// fixed number of requests in flight (64 by default) over keep-alive connections, no rate limit,
// each object sent as soon as a request slot is free. Benchmarks print it beside a controller's
// time for the same objects.
import { KubeClient, type ObjectLike } from '../../controller/kube/client.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import { FIELD_MANAGER } from '../../controller/kube/field-manager.ts';
import type { Resource } from '../../controller/kube/resources.ts';

export interface TunedWrite {
  ms: number;
  requests: number;
}

/**
 * Writes every object with `inFlight` requests at once, by a plain create (POST) or by
 * server-side apply; resolves with the time from the first request to the last answer.
 */
export async function writeAllTuned(kc: KubeConfig, res: Resource, objects: readonly ObjectLike[], o: { verb: 'create' | 'apply'; inFlight?: number }): Promise<TunedWrite> {
  const inFlight = o.inFlight ?? 64;
  const client = new KubeClient(kc, { qps: 0, maxSockets: inFlight });
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < objects.length) {
      const obj = objects[next++]!;
      if (o.verb === 'create') await client.createManaged(res, obj, FIELD_MANAGER);
      else await client.apply(res, obj, FIELD_MANAGER);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, objects.length) }, worker));
  return { ms: performance.now() - started, requests: objects.length };
}

/** `obj` as a client would write it anew into `namespace`: without what the API server set. */
export function asNew<T extends ObjectLike>(obj: T, namespace: string): T {
  const { uid: _uid, resourceVersion: _rv, creationTimestamp: _ct, generation: _g, managedFields: _mf, ...metadata } = (obj.metadata ?? {}) as Record<string, unknown>;
  const { status: _status, ...rest } = obj as T & { status?: unknown };
  return { ...rest, metadata: { ...metadata, namespace } } as unknown as T;
}
