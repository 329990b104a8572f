// Bounded concurrency for batches of API writes.

/** Runs `fn` over `items`, `limit` at a time; the first error is raised after all settle. */
export async function inParallel<T>(items: readonly T[], fn: (item: T) => Promise<void>, limit = 16): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item).catch((e: unknown) => errors.push(e));
    }
  }));
  if (errors.length > 0) throw errors[0];
}
