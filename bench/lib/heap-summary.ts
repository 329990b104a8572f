// Where a V8 heap snapshot's bytes are: self sizes summed by node type and constructor (or, for
// strings and code, by type alone), largest first. Reads the .heapsnapshot JSON that
// v8.writeHeapSnapshot writes (its `snapshot.meta` says how the flat `nodes` array is laid out).
//   node bench/lib/heap-summary.ts <file.heapsnapshot> [--top 25]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapGroup {
  group: string;
  count: number;
  bytes: number;
}

/** Self sizes by group, largest first; objects grouped by constructor name, other types by type. */
export function heapSummary(snapshot: Snapshot): HeapGroup[] {
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const groups = new Map<string, HeapGroup>();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    const group = type === 'object' || type === 'closure' || type === 'native' ? `${type} ${snapshot.strings[snapshot.nodes[i + nameAt]!]}` : type;
    const g = groups.get(group) ?? { group, count: 0, bytes: 0 };
    g.count++;
    g.bytes += snapshot.nodes[i + sizeAt]!;
    groups.set(group, g);
  }
  return [...groups.values()].sort((a, b) => b.bytes - a.bytes);
}

if (process.argv[1] === import.meta.filename) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
  const groups = heapSummary(JSON.parse(readFileSync(positionals[0]!, 'utf8')) as Snapshot);
  const total = groups.reduce((n, g) => n + g.bytes, 0);
  console.log(`| group | objects | MiB | share |\n|---|---|---|---|`);
  for (const g of groups.slice(0, Number(values.top))) console.log(`| ${g.group} | ${g.count} | ${(g.bytes / 2 ** 20).toFixed(1)} | ${((100 * g.bytes) / total).toFixed(1)}% |`);
  console.log(`| total | ${groups.reduce((n, g) => n + g.count, 0)} | ${(total / 2 ** 20).toFixed(1)} | |`);
}
