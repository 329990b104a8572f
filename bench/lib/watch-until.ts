// Times the moment a watched object meets a condition: the watch starts (from the object as read)
// before the change that is timed, and the arrival of the event that meets it is the end. Polling
// every 200 ms, as the scale-out rows did, added up to 200 ms to whichever row it timed.
import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from '../../controller/kube/client.ts';
import { pathOf, type Resource } from '../../controller/kube/resources.ts';

export interface Waiter<T> {
  /** Resolves with performance.now() at the event that met the condition. */
  met: Promise<{ at: number; object: T }>;
  stop: () => void;
}

export async function watchUntil<T extends KubernetesObject>(kc: KubeConfig, client: KubeClient, res: Resource, ref: { namespace: string; name: string }, done: (o: T) => boolean, timeoutMs: number, what: string): Promise<Waiter<T>> {
  const current = await client.get<T>(res, ref);
  let abort: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const stop = () => {
    clearTimeout(timer);
    abort?.();
  };
  const met = new Promise<{ at: number; object: T }>((resolve, reject) => {
    if (current && done(current)) return resolve({ at: performance.now(), object: current });
    timer = setTimeout(() => reject(new Error(`${res.kind} ${ref.namespace}/${ref.name}: no ${what} after ${timeoutMs} ms`)), timeoutMs);
    const options = { fieldSelector: `metadata.name=${ref.name}`, ...(current?.metadata?.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}) };
    new Watch(kc)
      .watch(pathOf(res, ref.namespace), options, (_type, object: T) => {
        if (!done(object)) return;
        const at = performance.now();
        stop();
        resolve({ at, object });
      }, (err: unknown) => {
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
      })
      .then((req: { abort: () => void }) => (abort = () => req.abort()), reject);
  });
  met.catch(() => undefined).finally(stop);
  return { met, stop };
}
