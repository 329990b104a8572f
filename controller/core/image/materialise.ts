// How a GoldenImage version becomes data VMs can boot (storage DataVolume): the CDI DataVolume
// that imports it once into a PVC in the image's namespace, the DataSource a channel publishes,
// the Secret CDI needs for a private registry, and the version's phase read back from CDI.
// Pure: plain data in, plain data out; the shell creates what is returned and feeds back what
// it reads. ContainerDisk images materialise nothing (see containerDiskState).
import { createHash } from 'node:crypto';
import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import { CDI_API_VERSION, type CdiCondition, type DataSource, type DataVolume, type DataVolumeSource, type Desired } from './cdi.ts';
import { isAvailable, type ImageRef, type ImageSpec, type RecordedVersion, type VersionPhase } from './types.ts';

export const IMAGE_LABEL = 'virtfleet.io/goldenimage';
export const VERSION_LABEL = 'virtfleet.io/version';
export const CHANNEL_LABEL = 'virtfleet.io/channel';

/**
 * CDI binds the claim of a DataVolume carrying this annotation at once, even on a
 * WaitForFirstConsumer StorageClass. A golden image's PVC never gets a consumer of its own (VMs
 * clone it), so without it the import would wait forever; CDI's DataImportCron sets it on its
 * imports for the same reason.
 */
export const IMMEDIATE_BINDING_ANNOTATION = 'cdi.kubevirt.io/storage.bind.immediate.requested';

/** Longest name used for DataVolumes (their PVCs take the same name) and DataSources, and longest label value. */
export const MAX_NAME_LENGTH = 63;
const HASH_LENGTH = 10;
/** Longest message kept in status.versions[].message (the CRD's bound). */
export const MAX_MESSAGE_LENGTH = 1024;

/**
 * `full` when it fits in `max` characters; otherwise a prefix of it, a dash and a short hash of
 * the whole, so distinct long names stay distinct and the same input always gives the same name.
 */
export function shortName(full: string, max = MAX_NAME_LENGTH): string {
  if (full.length <= max) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, HASH_LENGTH);
  const prefix = full.slice(0, max - HASH_LENGTH - 1).replace(/[-.]+$/, '');
  return `${prefix}-${hash}`;
}

/** The DataVolume (and so the PVC) holding one version: `<image>-<version>`. */
export const dataVolumeName = (image: string, version: string): string => shortName(`${image}-${version}`);

/** The DataSource publishing one channel: `<image>-<channel>`. */
export const dataSourceName = (image: string, channel: string): string => shortName(`${image}-${channel}`);

/** The Secret CDI reads registry credentials from, derived from the image's pull secret. */
export const registryCredentialsName = (image: string): string => shortName(`${image}-registry-credentials`);

/** A label value is at most 63 characters; long image names are shortened the same way as names. */
export const labelValue = (value: string): string => shortName(value);

/** The labels of every object materialising the image. */
export function imageLabels(image: string, extra: { version?: string; channel?: string } = {}): Record<string, string> {
  return {
    [IMAGE_LABEL]: labelValue(image),
    ...(extra.version !== undefined ? { [VERSION_LABEL]: labelValue(extra.version) } : {}),
    ...(extra.channel !== undefined ? { [CHANNEL_LABEL]: labelValue(extra.channel) } : {}),
  };
}

/** The GoldenImage as controlling owner: its children go when it is deleted. */
export function imageOwnerReference(image: ImageRef): V1OwnerReference {
  return { apiVersion: 'virtfleet.io/v1alpha1', kind: 'GoldenImage', name: image.name, uid: image.uid, controller: true, blockOwnerDeletion: true };
}

/** Why no DataVolume can be written for a version; the shell reports it as Stalled. */
export type MaterialiseRefusal =
  | 'NotDataVolumeStorage'
  | 'StorageSizeMissing'
  | 'VersionWithoutDigest'
  | 'VersionWithoutChecksum'
  | 'CAKeyNotCrt'
  | 'NoSource';

/**
 * A Secret the shell must write before the DataVolume can import: CDI's registry importer reads
 * `accessKeyId`/`secretKey` from it, which the shell derives from the image's dockerconfigjson
 * pull secret (same namespace) with derivedRegistrySecret.
 */
export interface CredentialsToDerive {
  secretName: string;
  pullSecretName: string;
}

export type DataVolumePlan =
  | { ok: true; dataVolume: Desired<DataVolume>; credentials?: CredentialsToDerive }
  | { ok: false; reason: MaterialiseRefusal; message: string };

const refuse = (reason: MaterialiseRefusal, message: string): DataVolumePlan => ({ ok: false, reason, message });

/**
 * The DataVolume importing `version` of the image into a PVC in the image's namespace:
 * registry `docker://<repository>@<digest>`, http `url` + `checksum` (the importer verifies it),
 * or a clone of the adopted PVC. The pull secret of a registry is a dockerconfigjson, which CDI
 * cannot read; the plan then names a derived Secret (see CredentialsToDerive).
 */
export function desiredDataVolume(input: { image: ImageRef; spec: ImageSpec; version: RecordedVersion }): DataVolumePlan {
  const { image, spec, version } = input;
  const storage = spec.storage;
  if (storage?.type !== 'DataVolume') return refuse('NotDataVolumeStorage', `GoldenImage ${image.namespace}/${image.name} does not use DataVolume storage`);
  if (!storage.size) return refuse('StorageSizeMissing', 'spec.storage.size is required for DataVolume storage');

  let source: DataVolumeSource;
  let credentials: CredentialsToDerive | undefined;
  const { registry, http, pvc } = spec.source;
  if (registry) {
    if (!version.digest) return refuse('VersionWithoutDigest', `version "${version.name}" has no digest`);
    const caKey = registry.caConfigMapRef ? (registry.caConfigMapRef.key ?? 'ca.crt') : undefined;
    if (caKey !== undefined && !caKey.endsWith('.crt')) {
      return refuse('CAKeyNotCrt', `CDI's registry importer reads only *.crt files of its certificate ConfigMap; key "${caKey}" of ConfigMap ${registry.caConfigMapRef?.name ?? ''} would be ignored (use a key ending in .crt)`);
    }
    if (registry.pullSecretRef) credentials = { secretName: registryCredentialsName(image.name), pullSecretName: registry.pullSecretRef.name };
    source = {
      registry: {
        url: `docker://${registry.repository}@${version.digest}`,
        ...(credentials ? { secretRef: credentials.secretName } : {}),
        ...(registry.caConfigMapRef ? { certConfigMap: registry.caConfigMapRef.name } : {}),
      },
    };
  } else if (http) {
    if (!version.checksum) return refuse('VersionWithoutChecksum', `version "${version.name}" has no checksum`);
    source = {
      http: {
        url: version.url ?? http.url ?? '',
        checksum: version.checksum,
        ...(http.caConfigMapRef ? { certConfigMap: http.caConfigMapRef.name } : {}),
        // The http source's Secret already holds accessKeyId/secretKey, as CDI wants.
        ...(http.secretRef ? { secretRef: http.secretRef.name } : {}),
      },
    };
  } else if (pvc) {
    // A clone; a source in another namespace needs `create` on datavolumes/source there.
    source = { pvc: { namespace: pvc.namespace ?? image.namespace, name: pvc.name } };
  } else {
    return refuse('NoSource', 'spec.source sets none of registry, http or pvc');
  }

  const dataVolume: Desired<DataVolume> = {
    apiVersion: CDI_API_VERSION,
    kind: 'DataVolume',
    metadata: {
      name: dataVolumeName(image.name, version.name),
      namespace: image.namespace,
      labels: imageLabels(image.name, { version: version.name }),
      annotations: { [IMMEDIATE_BINDING_ANNOTATION]: 'true' },
      ownerReferences: [imageOwnerReference(image)],
    },
    spec: {
      source,
      storage: {
        resources: { requests: { storage: storage.size } },
        ...(storage.storageClassName ? { storageClassName: storage.storageClassName } : {}),
      },
    },
  };
  return { ok: true, dataVolume, ...(credentials ? { credentials } : {}) };
}

/** The DataSource publishing a channel: `spec.source.pvc` points at the PVC of the channel's version. */
export function desiredDataSource(input: { image: ImageRef; channel: string; version?: string; pvc: { namespace: string; name: string } }): Desired<DataSource> {
  const { image, channel, version, pvc } = input;
  return {
    apiVersion: CDI_API_VERSION,
    kind: 'DataSource',
    metadata: {
      name: dataSourceName(image.name, channel),
      namespace: image.namespace,
      labels: imageLabels(image.name, { channel, ...(version !== undefined ? { version } : {}) }),
      ownerReferences: [imageOwnerReference(image)],
    },
    spec: { source: { pvc: { namespace: pvc.namespace, name: pvc.name } } },
  };
}

export type SecretPlan = { ok: true; secret: Desired<V1Secret> } | { ok: false; reason: 'PullSecretUnusable'; message: string };

/**
 * The Secret CDI's registry importer reads (`accessKeyId` = user name, `secretKey` = password),
 * derived from the image's pull secret (kubernetes.io/dockerconfigjson or dockercfg) for the
 * repository's registry. Same namespace as the image; owned by it, so it goes with it.
 */
export function derivedRegistrySecret(input: { image: ImageRef; spec: ImageSpec; pullSecret: V1Secret }): SecretPlan {
  const { image, spec, pullSecret } = input;
  const registry = spec.source.registry;
  const unusable = (message: string): SecretPlan => ({ ok: false, reason: 'PullSecretUnusable', message: `Secret ${image.namespace}/${pullSecret.metadata?.name ?? ''}: ${message}` });
  if (!registry) return unusable('the image has no registry source');
  const found = registryCredentials(pullSecret, registry.repository);
  if (!found.ok) return unusable(found.message);
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  return {
    ok: true,
    secret: {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: registryCredentialsName(image.name),
        namespace: image.namespace,
        labels: imageLabels(image.name),
        ownerReferences: [imageOwnerReference(image)],
      },
      data: { accessKeyId: b64(found.username), secretKey: b64(found.password) },
    },
  };
}

type Credentials = { ok: true; username: string; password: string } | { ok: false; message: string };

/** Docker Hub's aliases, so a `https://index.docker.io/v1/` entry serves docker.io/… repositories. */
const DOCKER_HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

function normaliseRegistryKey(key: string): string {
  let k = key.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
  if (k.endsWith('/v1') || k.endsWith('/v2')) k = k.slice(0, -3);
  const [host = '', ...path] = k.split('/');
  return [DOCKER_HUB_ALIASES.has(host) ? 'docker.io' : host, ...path].join('/');
}

/**
 * The user name and password a dockerconfigjson (or legacy dockercfg) holds for `repository`:
 * the entry whose key (scheme and trailing slash ignored) is the repository's registry or a
 * path prefix of the repository, the longest such key winning, as the kubelet matches them.
 */
export function registryCredentials(pullSecret: V1Secret, repository: string): Credentials {
  const data = pullSecret.data ?? {};
  const raw = data['.dockerconfigjson'] ?? data['.dockercfg'];
  if (raw === undefined) return { ok: false, message: 'has neither .dockerconfigjson nor .dockercfg' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
  } catch {
    return { ok: false, message: 'its docker config is not JSON' };
  }
  const root = (parsed ?? {}) as Record<string, unknown>;
  const auths = (data['.dockerconfigjson'] !== undefined ? root.auths : root) as Record<string, unknown> | undefined;
  const target = normaliseRegistryKey(repository);
  let best: { key: string; entry: Record<string, unknown> } | undefined;
  for (const [key, entry] of Object.entries(auths ?? {})) {
    const k = normaliseRegistryKey(key);
    if (k === '' || (target !== k && !target.startsWith(`${k}/`))) continue;
    if (!best || k.length > best.key.length) best = { key: k, entry: (entry ?? {}) as Record<string, unknown> };
  }
  const host = target.split('/')[0] ?? '';
  if (!best) return { ok: false, message: `has no credentials for registry ${host}` };
  const { username, password, auth } = best.entry;
  if (typeof username === 'string' && typeof password === 'string' && username !== '') return { ok: true, username, password };
  if (typeof auth === 'string') {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { ok: true, username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return { ok: false, message: `its entry for ${host} has no user name and password (CDI cannot use identity tokens)` };
}

// ---------------------------------------------------------------------------------------------
// The version's phase, read back from CDI.

/** What CDI's DataVolume (or the digest check) says about a version. */
export interface VersionState {
  phase: VersionPhase;
  /** CDI's progress, for example "45.20%"; absent before data moves. */
  progress?: string;
  pvcName?: string;
  message?: string;
  /** Machine-readable why, for conditions and Events: ChecksumMismatch, ImportFailed, PVCLost, ImporterRestarting or CDI's own condition reason. */
  reason?: string;
}

const condition = (dv: DataVolume, type: string): CdiCondition | undefined => dv.status?.conditions?.find((c) => c.type === type);
const clip = (s: string): string => (s.length <= MAX_MESSAGE_LENGTH ? s : `${s.slice(0, MAX_MESSAGE_LENGTH - 1)}…`);
const claimOf = (dv: DataVolume): string | undefined => dv.status?.claimName || dv.metadata?.name || undefined;

/** Reasons CDI's Bound and Ready conditions carry while an import or clone goes as it should. */
const ORDINARY_REASONS = new Set(['', 'Pending', 'Bound', 'TransferRunning', 'CloneScheduled', 'ImportScheduled', 'ImportInProgress', 'CloneInProgress', 'Completed', 'Pod is running', 'ContainerCreating', 'PodInitializing']);

/** CDI's importer reports a wrong checksum as "checksum mismatch" and CDI marks the Running condition ChecksumError. */
function isChecksumMismatch(dv: DataVolume): boolean {
  return (dv.status?.conditions ?? []).some((c) => c.reason === 'ChecksumError' || /checksum mismatch/i.test(c.message ?? ''));
}

function failure(dv: DataVolume): VersionState {
  const running = condition(dv, 'Running');
  const pvcName = claimOf(dv);
  const base = pvcName !== undefined ? { pvcName } : {};
  if (isChecksumMismatch(dv)) {
    const withText = [running, condition(dv, 'Ready'), condition(dv, 'Bound')].find((c) => /checksum/i.test(c?.message ?? ''));
    return { phase: 'Failed', reason: 'ChecksumMismatch', message: clip(withText?.message ?? 'checksum mismatch'), ...base };
  }
  const text = [running, condition(dv, 'Ready'), condition(dv, 'Bound')].map((c) => c?.message).find((m) => m !== undefined && m !== '');
  return { phase: 'Failed', reason: 'ImportFailed', message: clip(text ?? `Failed to import into PVC ${pvcName ?? ''}`), ...base };
}

function inProgress(dv: DataVolume): VersionState {
  const status = dv.status ?? {};
  const state: VersionState = { phase: 'Importing' };
  // CDI sets claimName once it has created the claim.
  if (status.claimName) state.pvcName = status.claimName;
  if (status.progress !== undefined && /^\d+(\.\d+)?%$/.test(status.progress)) state.progress = status.progress;
  const running = condition(dv, 'Running');
  const restarts = status.restartCount ?? 0;
  if (restarts > 0 && running?.status === 'False' && running.reason && !ORDINARY_REASONS.has(running.reason)) {
    // CDI retries a failing importer pod; the version stays Importing and says why it restarts.
    state.reason = 'ImporterRestarting';
    state.message = clip(`the importer restarted ${restarts} time${restarts === 1 ? '' : 's'}: ${running.message ?? running.reason}`);
    return state;
  }
  if (status.phase === 'WaitForFirstConsumer' || status.phase === 'PendingPopulation') {
    state.reason = status.phase;
    state.message = `CDI waits for a consumer of the PVC (${status.phase}) and ignored the ${IMMEDIATE_BINDING_ANNOTATION} annotation`;
    return state;
  }
  // Running carries the importer pod's waiting reason too, for example a Secret it cannot mount.
  const blocked = [condition(dv, 'Bound'), condition(dv, 'Ready'), running].find((c) => c?.status === 'False' && !ORDINARY_REASONS.has(c.reason ?? ''));
  if (blocked) {
    state.reason = blocked.reason ?? '';
    state.message = clip(blocked.message ?? blocked.reason ?? '');
  }
  return state;
}

/**
 * A version's state from its DataVolume (undefined when there is none):
 * - no DataVolume yet (or one being deleted) → Discovered: the shell creates it;
 * - Succeeded → Ready; Failed → Failed, reason ChecksumMismatch when the importer found other
 *   bytes than the version's checksum, else ImportFailed with CDI's message;
 * - any other phase → Importing, with progress, and why it waits or restarts when CDI says so.
 * Ready, Deprecated, Obsolete, Deleted and Failed never change here: a version that was Ready
 * never goes back (if its DataVolume disappears, the phase stays and the reason is PVCLost, so
 * nothing that uses the version is disturbed; its bytes are pinned by digest or checksum, so the
 * shell may import it again under the same name), and a Failed import is permanent (CDI itself
 * retries transient errors and fails a DataVolume only for good, such as a checksum mismatch).
 */
export function versionFromDataVolume(dv: DataVolume | undefined, version: RecordedVersion): VersionState {
  const present = dv !== undefined && !dv.metadata?.deletionTimestamp ? dv : undefined;
  if (isAvailable(version) || version.phase === 'Deleted') {
    const pvcName = version.pvcName ?? (present ? claimOf(present) : undefined);
    const base: VersionState = { phase: version.phase, ...(pvcName !== undefined ? { pvcName } : {}) };
    if (present || version.phase === 'Deleted') return base;
    return { ...base, reason: 'PVCLost', message: `the PVC ${pvcName ?? ''} holding this version is gone` };
  }
  if (version.phase === 'Failed') {
    if (present?.status?.phase === 'Failed') return failure(present);
    return { phase: 'Failed', ...(version.pvcName !== undefined ? { pvcName: version.pvcName } : {}), ...(version.message !== undefined ? { message: version.message } : {}) };
  }
  if (!present) return { phase: 'Discovered' };
  const phase = present.status?.phase;
  if (phase === 'Succeeded') {
    const pvcName = claimOf(present);
    return { phase: 'Ready', progress: '100.0%', ...(pvcName !== undefined ? { pvcName } : {}) };
  }
  if (phase === 'Failed') return failure(present);
  return inProgress(present);
}

/**
 * ContainerDisk storage materialises nothing: a registry version is Ready once the shell has
 * confirmed its digest in the registry, Discovered until then. Phases past that never go back.
 */
export function containerDiskState(version: RecordedVersion, digestConfirmed: boolean): VersionState {
  if (version.phase !== 'Discovered' && version.phase !== 'Importing') return { phase: version.phase };
  return { phase: digestConfirmed ? 'Ready' : 'Discovered' };
}

/** The next state of a version under the image's storage type. */
export function nextVersionState(input: { spec: ImageSpec; version: RecordedVersion; dataVolume?: DataVolume; digestConfirmed?: boolean }): VersionState {
  return (input.spec.storage?.type ?? 'ContainerDisk') === 'DataVolume'
    ? versionFromDataVolume(input.dataVolume, input.version)
    : containerDiskState(input.version, input.digestConfirmed ?? false);
}

/**
 * The recorded version with `state` applied at `now` (RFC 3339): readyAt is stamped the first
 * time it becomes Ready; progress, pvcName and message follow the state (absent when it has none).
 */
export function applyVersionState(version: RecordedVersion, state: VersionState, now: string): RecordedVersion {
  const next: RecordedVersion = { ...version, phase: state.phase };
  delete next.progress;
  delete next.message;
  if (state.progress !== undefined) next.progress = state.progress;
  if (state.message !== undefined) next.message = state.message;
  if (state.pvcName !== undefined) next.pvcName = state.pvcName;
  if (state.phase === 'Ready' && !isAvailable(version) && next.readyAt === undefined) next.readyAt = now;
  return next;
}
