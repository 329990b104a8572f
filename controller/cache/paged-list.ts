// A LIST in pages (limit/continue), as client-go's pager does for informers: a relist of 10,000
// VMs arrives as pages of `limit` objects, each parsed, shrunk by the cache's transform and let go
// before the next one is read, instead of one response of every whole object (tens of MiB of text
// and its parse, all alive at once, which the process's RSS keeps long after). The pages form one
// consistent snapshot: the API server serves every continuation at the first page's
// resourceVersion, which the result carries for the watch to start from.
import { ApiError, type KubeClient, type ListOf, type ObjectLike } from '../kube/client.ts';
import { pathOf, type Resource } from '../kube/resources.ts';

/** Objects per page: client-go's default page size for informers' lists. */
export const DEFAULT_PAGE_SIZE = 500;

export interface PagedListOptions<T> {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  limit?: number;
  /** Shrinks each object of a page as it arrives (the informer's transform; it must be idempotent, as the informer applies it again). */
  transform?: (obj: T) => void;
}

/** The query of one page: the selector, the page size and the continue token, URL-encoded. */
export function pageQuery(o: { labelSelector?: string | undefined; limit: number; continueToken?: string | undefined }): string {
  const params = new URLSearchParams();
  if (o.labelSelector) params.set('labelSelector', o.labelSelector);
  params.set('limit', String(o.limit));
  if (o.continueToken) params.set('continue', o.continueToken);
  return `?${params.toString()}`;
}

/**
 * Lists `res` page by page into one list. When a continue token expires midway (410, the
 * snapshot was compacted away, as after a slow consumer), it starts over once without pages, as
 * client-go's pager falls back to a full list.
 */
export async function listInPages<T extends ObjectLike>(client: KubeClient, res: Resource, o: PagedListOptions<T> = {}): Promise<ListOf<T>> {
  const limit = o.limit ?? DEFAULT_PAGE_SIZE;
  const path = pathOf(res, o.namespace);
  const items: T[] = [];
  let continueToken: string | undefined;
  let resourceVersion: string | undefined;
  try {
    do {
      const page = await client.http.request<ListOf<T>>('GET', path + pageQuery({ labelSelector: o.labelSelector, limit, continueToken }));
      if (o.transform) page.items.forEach(o.transform);
      for (const item of page.items) items.push(item);
      resourceVersion = page.metadata?.resourceVersion;
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
  } catch (err) {
    if (!(continueToken && err instanceof ApiError && err.status === 410)) throw err;
    const whole = await client.list<T>(res, { ...(o.namespace ? { namespace: o.namespace } : {}), ...(o.labelSelector ? { labelSelector: o.labelSelector } : {}) });
    if (o.transform) whole.items.forEach(o.transform);
    return whole;
  }
  return { items, metadata: resourceVersion !== undefined ? { resourceVersion } : {} };
}
