// Counts the write requests the API server has served, from its own apiserver_request_total
// counter in /metrics, so that a benchmark can diff two readings and see how many writes a
// controller made in between, whichever client made them.
//
// The counter's labels (kube-apiserver 1.35): code, component, dry_run, group, resource, scope,
// subresource, verb, version. Write verbs are POST, PUT, PATCH (JSON, merge and strategic merge
// patches), APPLY (server-side apply, a PATCH on the wire), DELETE and DELETECOLLECTION. Every
// response code counts: a write the API server refused (409, 422, ...) still cost it a request.
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeHttp } from '../../controller/kube/http.ts';

export const WRITE_VERBS: readonly string[] = ['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION'];

export interface WriteCounts {
  total: number;
  /** Keyed by resource, or resource/subresource (e.g. replicasets/status, replicasets/scale). */
  byResource: Record<string, number>;
  /** Keyed by verb: POST, PUT, PATCH, APPLY, DELETE, DELETECOLLECTION. */
  byVerb: Record<string, number>;
  /** The writes refused with 409 Conflict (a stale resourceVersion, or the name taken), keyed as byResource. */
  conflictsByResource: Record<string, number>;
}

export interface WriteFilter {
  /** Count only these resources (plural names such as pods, replicasets, events), with any subresource. */
  resources?: readonly string[];
  /** Count only these API groups ('' is the core group). */
  groups?: readonly string[];
  /** Leave out these resources, e.g. API_SERVER_BACKGROUND. */
  excludeResources?: readonly string[];
}

/**
 * Writes a local ControlPlane's kube-apiserver makes on its own, about every 10 s whatever else
 * runs: PUTs renewing its identity Lease in kube-system, and POSTs of the `kubernetes` Service's
 * Endpoints that fail with 422 (its advertise address 127.0.0.1 is loopback, which Endpoints
 * refuse). A controller that itself writes Leases (leader election) is undercounted by leaving
 * these out.
 */
export const API_SERVER_BACKGROUND: readonly string[] = ['leases', 'endpoints'];

type Source = KubeConfig | KubeHttp;

/** The API server's /metrics, in Prometheus text exposition format; parseWrites reads it. */
export async function apiServerMetrics(source: Source): Promise<string> {
  const http = source instanceof KubeHttp ? source : new KubeHttp(source, { qps: 0 });
  const text = await http.request<unknown>('GET', '/metrics');
  if (typeof text !== 'string') throw new Error('GET /metrics did not answer with the text exposition format');
  return text;
}

/** Writes the API server has served since it started, per resource and per verb. */
export async function apiServerWritesByResource(source: Source, filter: WriteFilter = {}): Promise<WriteCounts> {
  return parseWrites(await apiServerMetrics(source), filter);
}

/** The total of apiServerWritesByResource. */
export async function apiServerWrites(source: Source, filter: WriteFilter = {}): Promise<number> {
  return (await apiServerWritesByResource(source, filter)).total;
}

/** The writes between two readings. */
export function diffWrites(before: WriteCounts, after: WriteCounts): WriteCounts {
  const diff = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [key, n] of Object.entries(a)) {
      const d = n - (b[key] ?? 0);
      if (d !== 0) out[key] = d;
    }
    return sortKeys(out);
  };
  return {
    total: after.total - before.total,
    byResource: diff(after.byResource, before.byResource),
    byVerb: diff(after.byVerb, before.byVerb),
    conflictsByResource: diff(after.conflictsByResource, before.conflictsByResource),
  };
}

const SAMPLE = /^apiserver_request_total\{(.*)\}\s+(\S+)/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** Sums apiserver_request_total over write verbs in Prometheus text exposition format. */
export function parseWrites(metrics: string, filter: WriteFilter = {}): WriteCounts {
  const byResource: Record<string, number> = {};
  const byVerb: Record<string, number> = {};
  const conflictsByResource: Record<string, number> = {};
  let total = 0;
  for (const line of metrics.split('\n')) {
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of m[1]!.matchAll(LABEL)) labels[k!] = v!;
    if (!WRITE_VERBS.includes(labels.verb ?? '')) continue;
    const resource = labels.resource ?? '';
    if (filter.resources && !filter.resources.includes(resource)) continue;
    if (filter.groups && !filter.groups.includes(labels.group ?? '')) continue;
    if (filter.excludeResources?.includes(resource)) continue;
    const n = Number(m[2]);
    const key = labels.subresource ? `${resource}/${labels.subresource}` : resource;
    byResource[key] = (byResource[key] ?? 0) + n;
    byVerb[labels.verb!] = (byVerb[labels.verb!] ?? 0) + n;
    if (labels.code === '409') conflictsByResource[key] = (conflictsByResource[key] ?? 0) + n;
    total += n;
  }
  return { total, byResource: sortKeys(byResource), byVerb: sortKeys(byVerb), conflictsByResource: sortKeys(conflictsByResource) };
}

function sortKeys(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
}
