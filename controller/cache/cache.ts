// Read access to an informer's cache, as the reconcilers see it.

export interface Cache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}
