// Retention's guard against a use that begins while a version is being deleted. Retention lists
// the VMs and DataVolumes live before it deletes a version's DataVolume, but a VM created between
// that list and the delete would lose the disk it is about to clone. Kubernetes serialises only
// through admission, so the guard is a ValidatingAdmissionPolicy with a ConfigMap as its
// parameter: while a version is being deleted its PVC is named in the ConfigMap, and the policy
// refuses to create a VM or a DataVolume that clones that PVC (or to add such a clone to a VM).
// Retention writes the entry, waits until a dry-run clone is refused (the API server's policy has
// seen it), lists live, deletes, and removes the entry.
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApiError, type KubeClient } from '../kube/client.ts';
import { pathOf, RESOURCES } from '../kube/resources.ts';
import type { Logger } from '../runtime/logger.ts';

export const RETENTION_GUARD_NAME = 'virtfleet-retiring-versions';
export const DEFAULT_RETENTION_GUARD_NAMESPACE = 'virtfleet-system';
/** The policy's refusal; the probe recognises the guard by it. */
export const RETENTION_GUARD_MESSAGE = 'clones the PVC of a GoldenImage version that retention is deleting right now; create it again in a moment (the version will be gone), or keep the version by listing it in the image\'s spec.versions';

/** Where the guard's ConfigMap lives; the policy's binding names the same one. */
export interface RetentionGuardRef {
  namespace: string;
  name: string;
}

/** The ConfigMap key of a PVC: namespaces hold no dots, so the first one splits the two. */
export const guardKey = (namespace: string, pvcName: string): string => `${namespace}.${pvcName}`;

// The `namespace.name` of each PVC a VM's dataVolumeTemplates or a DataVolume clone.
const VM_CLONES = (o: string) =>
  `has(${o}.spec.dataVolumeTemplates) ? ${o}.spec.dataVolumeTemplates.filter(t, has(t.spec) && has(t.spec.source) && has(t.spec.source.pvc)).map(t, (has(t.spec.source.pvc.namespace) ? t.spec.source.pvc.namespace : request.namespace) + '.' + t.spec.source.pvc.name) : []`;
const DV_CLONES = `has(object.spec.source) && has(object.spec.source.pvc) ? [(has(object.spec.source.pvc.namespace) ? object.spec.source.pvc.namespace : request.namespace) + '.' + object.spec.source.pvc.name] : []`;

/**
 * The policy and its binding. `names` are the objects' names (cluster-scoped), `param` the
 * ConfigMap the controller writes. Written once here: the generator renders them into crds/ and
 * the chart, and the local cluster and the test world apply them from here.
 */
export function retentionGuardManifests(names: { policy: string; binding: string }, param: RetentionGuardRef): (KubernetesObject & { spec: Record<string, unknown> })[] {
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: names.policy, labels: { 'app.kubernetes.io/part-of': 'virtfleet' } },
      spec: {
        // A policy fault must not stop every VM create in the cluster; the guard only narrows a race.
        failurePolicy: 'Ignore',
        paramKind: { apiVersion: 'v1', kind: 'ConfigMap' },
        matchConstraints: {
          resourceRules: [
            { apiGroups: ['kubevirt.io'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: ['virtualmachines'] },
            { apiGroups: ['cdi.kubevirt.io'], apiVersions: ['*'], operations: ['CREATE'], resources: ['datavolumes'] },
          ],
        },
        variables: [
          { name: 'clones', expression: `request.resource.resource == 'virtualmachines' ? (${VM_CLONES('object')}) : (${DV_CLONES})` },
          // An update is refused only for a clone it adds: a VM that already cloned the PVC keeps working.
          { name: 'cloned', expression: `request.operation == 'UPDATE' && request.resource.resource == 'virtualmachines' ? (${VM_CLONES('oldObject')}) : []` },
        ],
        validations: [
          {
            expression: '!has(params.data) || !variables.clones.exists(c, c in params.data && !(c in variables.cloned))',
            message: RETENTION_GUARD_MESSAGE,
            reason: 'Forbidden',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: names.binding, labels: { 'app.kubernetes.io/part-of': 'virtfleet' } },
      spec: {
        policyName: names.policy,
        validationActions: ['Deny'],
        // No ConfigMap yet: nothing is being deleted.
        paramRef: { name: param.name, namespace: param.namespace, parameterNotFoundAction: 'Allow' },
      },
    },
  ];
}

export interface RetentionGuardOptions {
  /** How long to wait for a dry-run clone to be refused before taking the guard as absent. */
  inForceTimeoutMs?: number;
  /** After the guard is in force: time for a create admitted just before it to be stored. */
  settleMs?: number;
  /** How long an absent guard is remembered before it is probed again. */
  absentForMs?: number;
}

/** The shell around the guard's ConfigMap: hold entries, see the policy in force, release. */
export class RetentionGuard {
  private absentUntil = 0;
  private readonly unreleased = new Set<string>();
  private readonly inForceTimeoutMs: number;
  private readonly settleMs: number;
  private readonly absentForMs: number;
  private readonly client: KubeClient;
  readonly ref: RetentionGuardRef;
  private readonly log: Logger;

  constructor(client: KubeClient, ref: RetentionGuardRef, log: Logger, o: RetentionGuardOptions = {}) {
    this.client = client;
    this.ref = ref;
    this.log = log;
    this.inForceTimeoutMs = o.inForceTimeoutMs ?? 5_000;
    this.settleMs = o.settleMs ?? 500;
    this.absentForMs = o.absentForMs ?? 5 * 60_000;
  }

  /**
   * Names the PVCs (`guardKey` → who holds it) in the ConfigMap, creating it when missing; false
   * when it cannot be written (its namespace missing, no RBAC): retention then goes unguarded.
   */
  async hold(entries: Record<string, string>): Promise<boolean> {
    const ref = this.ref;
    const patch = () => this.client.mergePatch(RESOURCES.configMap, ref, { data: entries });
    try {
      try {
        await patch();
      } catch (err) {
        if (!(err instanceof ApiError && err.notFound)) throw err;
        try {
          await this.client.create(RESOURCES.configMap, { metadata: { namespace: ref.namespace, name: ref.name, labels: { 'app.kubernetes.io/part-of': 'virtfleet' } }, data: entries });
        } catch (createErr) {
          // Another controller created it meanwhile: patch it once more.
          if (!(createErr instanceof ApiError && createErr.alreadyExists)) throw createErr;
          await patch();
        }
      }
      return true;
    } catch (err) {
      if (!(err instanceof ApiError && (err.notFound || err.status === 403))) throw err;
      this.absent(`ConfigMap not writable: ${err.message}`);
      return false;
    }
  }

  /**
   * Removes the entries (and any an earlier release failed to remove); a missing ConfigMap holds
   * none. A failed release is remembered and retried by the next release or `flush()`, so a held
   * PVC never stays refused for clones because one request failed.
   */
  async release(keys: string[]): Promise<void> {
    for (const k of keys) this.unreleased.add(k);
    if (this.unreleased.size === 0) return;
    const all = [...this.unreleased];
    try {
      await this.client.mergePatch(RESOURCES.configMap, this.ref, { data: Object.fromEntries(all.map((k) => [k, null])) });
    } catch (err) {
      if (!(err instanceof ApiError && err.notFound)) throw err;
    }
    for (const k of all) this.unreleased.delete(k);
  }

  /** Retries the releases that failed; no request when there are none. */
  flush(): Promise<void> {
    return this.release([]);
  }

  /** Entries whose release failed and waits for a retry (bounded by the versions ever held at once). */
  get pending(): number {
    return this.unreleased.size;
  }

  /**
   * Whether the API server refuses a clone of the held PVC now: a dry-run DataVolume that clones
   * it, until refused with the guard's message or the timeout passes (no policy installed). A
   * guard found absent is not probed again for a while, so retention does not wait each time.
   */
  async inForce(namespace: string, pvcName: string): Promise<boolean> {
    if (Date.now() < this.absentUntil) return false;
    const deadline = Date.now() + this.inForceTimeoutMs;
    const probe = {
      apiVersion: 'cdi.kubevirt.io/v1beta1',
      kind: 'DataVolume',
      metadata: { generateName: 'virtfleet-retention-probe-', namespace },
      spec: { source: { pvc: { namespace, name: pvcName } }, storage: { resources: { requests: { storage: '1Mi' } } } },
    };
    for (;;) {
      try {
        await this.client.http.request('POST', `${pathOf(RESOURCES.dataVolume, namespace)}?dryRun=All`, probe);
      } catch (err) {
        if (err instanceof ApiError && err.message.includes(RETENTION_GUARD_MESSAGE)) {
          if (this.settleMs > 0) await new Promise((r) => setTimeout(r, this.settleMs));
          return true;
        }
        // Any other refusal says nothing about the guard; keep probing until the deadline.
      }
      if (Date.now() > deadline) {
        this.absent(`a clone of a held PVC was not refused within ${this.inForceTimeoutMs} ms (is the ValidatingAdmissionPolicy installed?)`);
        return false;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private absent(why: string): void {
    this.absentUntil = Date.now() + this.absentForMs;
    this.log.info('retention guard not in force: versions are deleted after a live check only', { why, policy: RETENTION_GUARD_NAME, configMap: `${this.ref.namespace}/${this.ref.name}` });
  }

  /**
   * Clears entries a stopped controller left behind (it is the leader now, so none is current):
   * those of `namespace` when the controller is limited to one, else all.
   */
  async clearLeftovers(namespace: string | undefined): Promise<void> {
    const cm = await this.client.get<KubernetesObject & { data?: Record<string, string> }>(RESOURCES.configMap, this.ref);
    const stale = Object.keys(cm?.data ?? {}).filter((k) => namespace === undefined || k.startsWith(`${namespace}.`));
    if (stale.length > 0) {
      this.log.info('retention guard: clearing entries left by an earlier term', { entries: stale.length });
      await this.release(stale);
    }
  }
}
