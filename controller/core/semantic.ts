// Kubernetes' equality.Semantic.DeepEqual as KubeVirt uses it, and path reads and removals over plain data.

/**
 * Equality where nil and empty maps and slices are equal: undefined, null, [] and objects
 * holding only empty values are all "empty", so an absent key equals an empty value.
 */
export function semanticEqual(a: unknown, b: unknown): boolean {
  const emptyA = isEmpty(a);
  const emptyB = isEmpty(b);
  if (emptyA || emptyB) return emptyA && emptyB;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => semanticEqual(x, b[i]));
  }
  if (typeof a === 'object' && typeof b === 'object') {
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    return [...new Set([...Object.keys(ra), ...Object.keys(rb)])].every((k) => semanticEqual(ra[k], rb[k]));
  }
  return a === b;
}

/** undefined, null, [] and objects whose values are all empty. */
function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.values(v).every(isEmpty);
}

export function getPath(o: unknown, path: string[]): unknown {
  return path.reduce<unknown>((cur, key) => (cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[key] : undefined), o);
}

/**
 * `o` without the leaf at each path, copying only the objects along the paths that lose one: the
 * rest is shared with `o`, which stays as it is. For a comparison this copies a few small objects
 * where a deep clone of a VMI spec copied all of it (disks, volumes, devices) for every VM.
 */
export function withoutPaths<T>(o: T, paths: readonly (readonly string[])[]): T {
  const copies = new Set<object>();
  const own = (x: Record<string, unknown>): Record<string, unknown> => {
    if (copies.has(x)) return x;
    const c = { ...x };
    copies.add(c);
    return c;
  };
  let root = o as unknown;
  for (const path of paths) {
    const leaf = path[path.length - 1]!;
    const parent = getPath(root, path.slice(0, -1));
    if (!parent || typeof parent !== 'object' || Array.isArray(parent) || !Object.hasOwn(parent, leaf)) continue;
    root = own(root as Record<string, unknown>);
    let cur = root as Record<string, unknown>;
    for (const key of path.slice(0, -1)) cur = cur[key] = own(cur[key] as Record<string, unknown>);
    delete cur[leaf];
  }
  return root as T;
}
