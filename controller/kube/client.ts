// Typed verbs over KubeHttp: get, list, create, server-side apply, merge patch, replace, delete.
import type { KubeConfigLike } from './kubeconfig.ts';
import { ApiError, FencedError, KubeHttp, type KubeHttpOptions, type RequestOptions } from './http.ts';
import { apiVersionOf, pathOf, type Resource } from './resources.ts';

export { ApiError, FencedError, type RequestOptions };

/** Any Kubernetes object: client-node's and KubeVirt's generated types both fit. */
export interface ObjectLike {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface ListOf<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface ObjectRef {
  namespace?: string;
  name: string;
}

export class KubeClient {
  readonly http: KubeHttp;

  constructor(kc: KubeConfigLike, options: KubeHttpOptions = {}) {
    this.http = new KubeHttp(kc, options);
  }

  async get<T extends ObjectLike>(res: Resource, ref: ObjectRef, options?: RequestOptions): Promise<T | undefined> {
    try {
      return await this.http.request<T>('GET', pathOf(res, ref.namespace, ref.name), undefined, undefined, options);
    } catch (err) {
      if (err instanceof ApiError && err.notFound) return undefined;
      throw err;
    }
  }

  list<T extends ObjectLike>(res: Resource, options: { namespace?: string; labelSelector?: string } = {}): Promise<ListOf<T>> {
    const query = options.labelSelector ? `?labelSelector=${encodeURIComponent(options.labelSelector)}` : '';
    return this.http.request('GET', pathOf(res, options.namespace) + query);
  }

  create<T extends ObjectLike>(res: Resource, obj: T, options?: RequestOptions): Promise<T> {
    return this.http.request('POST', pathOf(res, obj.metadata?.namespace), { apiVersion: apiVersionOf(res), kind: res.kind, ...obj }, undefined, options);
  }

  /** Creates the object under a field manager; 409 AlreadyExists when anyone holds the name. */
  createManaged<T extends ObjectLike>(res: Resource, obj: T, fieldManager: string): Promise<T> {
    return this.http.request('POST', `${pathOf(res, obj.metadata?.namespace)}?fieldManager=${encodeURIComponent(fieldManager)}`, { apiVersion: apiVersionOf(res), kind: res.kind, ...obj });
  }

  /** Server-side apply: the field manager owns exactly the fields it sends. */
  apply<T extends ObjectLike>(res: Resource, obj: T, fieldManager: string, options: { subresource?: string; force?: boolean; dryRun?: boolean } = {}): Promise<T> {
    const query = `?fieldManager=${encodeURIComponent(fieldManager)}&force=${options.force ?? true}${options.dryRun ? '&dryRun=All' : ''}`;
    const path = pathOf(res, obj.metadata?.namespace, obj.metadata?.name, options.subresource) + query;
    return this.http.request('PATCH', path, { apiVersion: apiVersionOf(res), kind: res.kind, ...obj }, 'application/apply-patch+yaml');
  }

  /** JSON merge patch, optionally of a subresource such as status. */
  mergePatch<T extends ObjectLike>(res: Resource, ref: ObjectRef, patch: unknown, subresource?: string, options?: RequestOptions): Promise<T> {
    return this.http.request('PATCH', pathOf(res, ref.namespace, ref.name, subresource), patch, 'application/merge-patch+json', options);
  }

  /** JSON patch (RFC 6902), for example a `test` of resourceVersion followed by changes. */
  jsonPatch<T extends ObjectLike>(res: Resource, ref: ObjectRef, ops: unknown[], subresource?: string): Promise<T> {
    return this.http.request('PATCH', pathOf(res, ref.namespace, ref.name, subresource), ops, 'application/json-patch+json');
  }

  replace<T extends ObjectLike>(res: Resource, obj: T, subresource?: string, options?: RequestOptions): Promise<T> {
    return this.http.request('PUT', pathOf(res, obj.metadata?.namespace, obj.metadata?.name, subresource), { apiVersion: apiVersionOf(res), kind: res.kind, ...obj }, undefined, options);
  }

  /** Deletes the object; false when it was already gone. A uid precondition guards against deleting a successor. */
  async delete(res: Resource, ref: ObjectRef, options: { uid?: string; propagationPolicy?: 'Background' | 'Foreground' | 'Orphan' } = {}): Promise<boolean> {
    const body = {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      ...(options.uid ? { preconditions: { uid: options.uid } } : {}),
      ...(options.propagationPolicy ? { propagationPolicy: options.propagationPolicy } : {}),
    };
    try {
      await this.http.request('DELETE', pathOf(res, ref.namespace, ref.name), body);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.notFound) return false;
      throw err;
    }
  }
}
