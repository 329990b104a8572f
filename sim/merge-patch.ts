// The JSON merge patch (RFC 7386) that turns `from` into `to`: changed and new keys are sent,
// vanished keys are sent as null, objects are diffed key by key and anything else is replaced
// whole. An empty patch means nothing changed, so the caller writes nothing.
type Json = unknown;

const isObject = (v: Json): v is Record<string, Json> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function mergePatchFor(from: Json, to: Json): Record<string, Json> | undefined {
  if (!isObject(to)) throw new Error('a merge patch is computed between objects');
  const base = isObject(from) ? from : {};
  const patch: Record<string, Json> = {};
  for (const key of Object.keys(base)) {
    if (base[key] !== undefined && to[key] === undefined) patch[key] = null;
  }
  for (const [key, value] of Object.entries(to)) {
    if (value === undefined) continue;
    const old = base[key];
    if (jsonEqual(old, value)) continue;
    if (isObject(old) && isObject(value)) {
      const inner = mergePatchFor(old, value);
      if (inner) patch[key] = inner;
    } else {
      patch[key] = value;
    }
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/** Equality of JSON values: key order, prototypes and undefined-valued keys do not matter. */
export function jsonEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (!isObject(a) || !isObject(b)) return false;
  const keys = (o: Record<string, Json>) => Object.keys(o).filter((k) => o[k] !== undefined);
  const ka = keys(a);
  return ka.length === keys(b).length && ka.every((k) => jsonEqual(a[k], b[k]));
}
