// JSON merge patches (RFC 7386), as the simulator writes its objects. mergePatchFor computes the
// patch that turns `from` into `to`: changed and new keys are sent, vanished keys are sent as
// null, objects are diffed key by key and anything else is replaced whole; an empty patch means
// nothing changed, so the caller writes nothing. applyMergePatch is what the API server does with
// one, and changedBy says whether a patch would change what is stored: a null in it removes its
// key, so a status that carries `lastProbeTime: null` is stored without it, and comparing the
// status itself with the stored one would find a difference every time and write again.
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

/**
 * MergePatch(target, patch) of RFC 7386 as the API server applies it (evanphx/json-patch): null
 * removes a key, objects merge key by key, anything else replaces, and a value that replaces is
 * stored without the null members of its objects, those inside arrays too.
 */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return withoutNulls(patch);
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}

function withoutNulls(v: Json): Json {
  if (Array.isArray(v)) return v.map((x) => (x === null ? x : withoutNulls(x)));
  if (!isObject(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null && x !== undefined).map(([k, x]) => [k, withoutNulls(x)]));
}

/** Whether sending `patch` as a merge patch would change `stored`. */
export function changedBy(stored: Json, patch: Json): boolean {
  return !jsonEqual(applyMergePatch(stored, patch), stored);
}
