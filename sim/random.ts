// Seeded, order-independent randomness: each decision hashes the seed with the name of what it
// decides about (a migration, an import), so a failure-injection run repeats exactly however
// events interleave.
export class SeededChance {
  private readonly seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
  }

  /** A number in [0, 1) fixed by the seed and the key. */
  value(key: string): number {
    // FNV-1a over the key, then one mulberry32 round to spread the bits.
    let h = (2166136261 ^ this.seed) >>> 0;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619) >>> 0;
    let t = (h + 0x6d2b79f5) >>> 0;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  chance(probability: number, key: string): boolean {
    return probability > 0 && this.value(key) < probability;
  }
}
