// Kubernetes' equality.Semantic.DeepEqual as KubeVirt uses it, and path reads over plain data.

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
