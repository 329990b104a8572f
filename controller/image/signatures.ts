// The signature gate of registry GoldenImages with `source.registry.verification`: a version
// that would become Ready (digest confirmed for ContainerDisk, import done for DataVolume) does
// so only once a cosign signature over its digest verifies with one of the configured public
// keys; an unsigned or badly signed one becomes Failed (SignatureInvalid) instead, so no channel
// ever offers it. Versions already Ready are not checked again (phases past Ready never go back).
// A registry that cannot be read for now holds the version where it was and is asked again with
// back-off. Each digest's verdict is remembered per image (bounded; dropped with the image or a
// new spec), so a verified digest costs its registry reads once per process.
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { KeyObject } from 'node:crypto';
import type { VersionState } from '../core/image/materialise.ts';
import { isAvailable, type ImageRef, type ImageSpec, type RecordedVersion } from '../core/image/types.ts';
import type { KubeClient } from '../kube/client.ts';
import { RESOURCES } from '../kube/resources.ts';
import { parsePublicKeys, SignatureError, verifyCosignSignature } from '../sources/cosign.ts';
import { SourceError } from '../sources/errors.ts';
import { caOf, pullCredentials, ReferenceProblem, type SourceProblem } from './discovery.ts';

export const SIGNATURE_INVALID = 'SignatureInvalid';
/** Starts the message of a version failed by the gate; it names the reason again after a restart. */
export const SIGNATURE_FAILURE_PREFIX = 'signature check failed: ';
const DEFAULT_KEY = 'cosign.pub';
const FIRST_RETRY_MS = 10_000;
const MAX_RETRY_MS = 10 * 60_000;
/** Digests remembered per image; an image has at most 512 versions. */
const MAX_REMEMBERED_DIGESTS = 1024;

/** What is known of one digest's signature. */
export type SignatureVerdict =
  | { kind: 'verified' }
  | { kind: 'invalid'; message: string }
  /** Not decided: the keys or the registry could not be read. `permanent` problems need a person. */
  | { kind: 'undecided'; problem: SourceProblem; permanent: boolean };

export interface SignatureMemory {
  /** digest → verdict, oldest first; undecided ones carry when to ask again. */
  verdicts: Map<string, { verdict: SignatureVerdict; attempts: number; retryAt: number }>;
}

export const newSignatureMemory = (): SignatureMemory => ({ verdicts: new Map() });

/** Whether the gate must decide on `version` before `state` (the state it would reach) applies. */
export function needsVerdict(spec: ImageSpec, version: RecordedVersion, state: VersionState): boolean {
  return spec.source.registry?.verification !== undefined && state.phase === 'Ready' && !isAvailable(version) && version.digest !== undefined;
}

/**
 * The state `version` reaches under the gate: `state` when verification is off, the version
 * stays past Ready or was verified; Failed (SignatureInvalid) when the signature is invalid; the
 * version's own phase, saying why, while undecided. A version the gate failed before keeps its
 * reason and message (the storage's own state drops them).
 */
export function gatedState(spec: ImageSpec, version: RecordedVersion, state: VersionState, verdict: SignatureVerdict | undefined): VersionState {
  if (state.phase === 'Failed' && version.phase === 'Failed' && version.message?.startsWith(SIGNATURE_FAILURE_PREFIX)) {
    return { ...state, reason: SIGNATURE_INVALID, message: version.message };
  }
  if (!needsVerdict(spec, version, state) || verdict?.kind === 'verified') return state;
  const kept = { ...(state.pvcName !== undefined ? { pvcName: state.pvcName } : {}) };
  if (verdict?.kind === 'invalid') return { phase: 'Failed', reason: SIGNATURE_INVALID, message: `${SIGNATURE_FAILURE_PREFIX}${verdict.message}`.slice(0, 1024), ...kept };
  const why = verdict ? verdict.problem.message : 'not checked yet';
  return { phase: version.phase, ...(state.progress !== undefined ? { progress: state.progress } : {}), ...kept, message: `waiting to verify the signature: ${why}`.slice(0, 1024) };
}

export interface GateInput {
  client: KubeClient;
  image: ImageRef;
  spec: ImageSpec;
  version: RecordedVersion;
  /** The state the version would reach without the gate. */
  state: VersionState;
  memory: SignatureMemory;
  now: number;
  timeoutMs: number;
}

export interface GateOutcome {
  state: VersionState;
  /** A problem a person must fix (keys missing or unusable, credentials refused): the image is Stalled. */
  problem?: SourceProblem;
  /** Look again after this long (an undecided verdict). */
  retryMs?: number;
}

/** Decides (or recalls) the version's verdict when the gate needs one and applies it. */
export async function gateOnSignature(input: GateInput): Promise<GateOutcome> {
  const { spec, version, state, memory, now } = input;
  if (!needsVerdict(spec, version, state)) return { state: gatedState(spec, version, state, undefined) };
  const digest = version.digest!;
  let entry = memory.verdicts.get(digest);
  if (!entry || (entry.verdict.kind === 'undecided' && now >= entry.retryAt)) {
    const verdict = await decide(input, digest);
    const attempts = verdict.kind === 'undecided' ? (entry?.attempts ?? 0) + 1 : 0;
    entry = { verdict, attempts, retryAt: now + Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1)) };
    memory.verdicts.delete(digest);
    memory.verdicts.set(digest, entry);
    while (memory.verdicts.size > MAX_REMEMBERED_DIGESTS) memory.verdicts.delete(memory.verdicts.keys().next().value as string);
  }
  const outcome: GateOutcome = { state: gatedState(spec, version, state, entry.verdict) };
  if (entry.verdict.kind === 'undecided') {
    outcome.retryMs = Math.max(0, entry.retryAt - now);
    if (entry.verdict.permanent) outcome.problem = entry.verdict.problem;
  }
  return outcome;
}

/** Problems that retrying alone fixes; any other undecided verdict needs a person. */
const TRANSIENT = new Set(['SourceUnreachable', 'RateLimited', 'ServerError']);

async function decide(input: GateInput, digest: string): Promise<SignatureVerdict> {
  const registry = input.spec.source.registry!;
  const { client, image, timeoutMs } = input;
  const keysRef = registry.verification!.publicKeys;
  try {
    const keys = await publicKeys(client, image.namespace, keysRef, timeoutMs);
    const credentials = await pullCredentials(client, image.namespace, registry.repository, registry.pullSecretRef, timeoutMs);
    const caPEM = await caOf(client, image.namespace, registry.caConfigMapRef, timeoutMs);
    await verifyCosignSignature({ repository: registry.repository, digest, keys: keys.keys, ...(credentials ? { credentials } : {}), ...(caPEM ? { caPEM } : {}), timeoutMs });
    return { kind: 'verified' };
  } catch (err) {
    if (err instanceof SignatureError) {
      const from = keysRef.secretRef ? `Secret ${image.namespace}/${keysRef.secretRef.name}` : `ConfigMap ${image.namespace}/${keysRef.configMapRef?.name ?? ''}`;
      return { kind: 'invalid', message: err.fault === 'wrongKey' ? `${err.message} (from ${from})` : err.message };
    }
    // A signature manifest naming a blob the registry lacks, or larger than any signature, is no signature.
    if (err instanceof SourceError && (err.reason === 'NotFound' || err.reason === 'ResponseTooLarge')) return { kind: 'invalid', message: `malformed signature: ${err.message}` };
    if (err instanceof SourceError) return { kind: 'undecided', problem: { reason: err.reason, message: err.message }, permanent: !TRANSIENT.has(err.reason) };
    if (err instanceof ReferenceProblem) return { kind: 'undecided', problem: { reason: err.reason, message: err.message }, permanent: true };
    throw err;
  }
}


type KeysRef = NonNullable<NonNullable<ImageSpec['source']['registry']>['verification']>['publicKeys'];

/** The PEM public keys `ref` names, from the image's namespace only, read fresh for each decision. */
async function publicKeys(client: KubeClient, namespace: string, ref: KeysRef, timeoutMs: number): Promise<{ keys: KeyObject[] }> {
  let what: string;
  let pem: string | undefined;
  if (ref.secretRef) {
    const key = ref.secretRef.key ?? DEFAULT_KEY;
    what = `Secret ${namespace}/${ref.secretRef.name}`;
    const secret = await client.get<V1Secret>(RESOURCES.secret, { namespace, name: ref.secretRef.name }, { timeoutMs });
    if (!secret) throw new ReferenceProblem('PublicKeysNotFound', `${what} not found`);
    const data = secret.data?.[key];
    pem = data !== undefined ? Buffer.from(data, 'base64').toString('utf8') : secret.stringData?.[key];
    if (pem === undefined) throw new ReferenceProblem('PublicKeysNotFound', `${what} has no key "${key}"`);
  } else {
    const key = ref.configMapRef?.key ?? DEFAULT_KEY;
    what = `ConfigMap ${namespace}/${ref.configMapRef?.name ?? ''}`;
    const map = await client.get<V1ConfigMap>(RESOURCES.configMap, { namespace, name: ref.configMapRef?.name ?? '' }, { timeoutMs });
    if (!map) throw new ReferenceProblem('PublicKeysNotFound', `${what} not found`);
    pem = map.data?.[key];
    if (pem === undefined) throw new ReferenceProblem('PublicKeysNotFound', `${what} has no key "${key}"`);
  }
  const parsed = parsePublicKeys(pem);
  if (!parsed.ok) throw new ReferenceProblem('PublicKeysUnusable', `${what} ${parsed.message}`);
  return { keys: parsed.keys };
}
