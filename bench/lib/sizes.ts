// The sizes a benchmark runs at, from its --sizes flag: whole numbers, comma-separated.

/**
 * The sizes in `text` ("1000,5000,10000"), ascending; `what` names the unit in the error that a
 * value that is not a whole number from `min` to `max` gets.
 */
export function parseSizes(text: string, what: string, { min = 1, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {}): number[] {
  const sizes = text.split(',').map((s) => Number(s.trim()));
  if (text.trim() === '' || sizes.some((n) => !Number.isInteger(n) || n < min || n > max)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    throw new Error(`--sizes: ${what}, whole numbers ${range}, comma-separated (got "${text}")`);
  }
  return sizes.sort((a, b) => a - b);
}
