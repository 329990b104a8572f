// Kubernetes resource quantities, shared by the controller and the simulator.

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const QUANTITY = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/;

/**
 * Kubernetes: k8s.io/apimachinery/pkg/api/resource ParseQuantity — a signed decimal number with
 * a binary-SI suffix (Ki Mi Gi Ti Pi Ei), a decimal-SI suffix (n u m k M G T P E) or a decimal
 * exponent (1e3, 1E-3). Returns the value in base units (bytes, cores); numbers pass through.
 * Throws on anything else.
 */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') {
    if (!Number.isFinite(q)) throw new Error(`invalid quantity ${q}`);
    return q;
  }
  const m = QUANTITY.exec(q);
  if (!m) throw new Error(`invalid quantity "${q}"`);
  const [, number, suffix, exponent] = m;
  const value = Number(number);
  if (exponent !== undefined) return value * 10 ** Number(exponent);
  const scale = suffix === undefined ? 1 : (BINARY[suffix] ?? DECIMAL[suffix]!);
  return value * scale;
}

/** parseQuantity, or undefined for input Kubernetes would reject. */
export function tryParseQuantity(q: string | number): number | undefined {
  try {
    return parseQuantity(q);
  } catch {
    return undefined;
  }
}
