import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { VersionState } from '../core/image/materialise.ts';
import type { ImageSpec, RecordedVersion, VersionPhase } from '../core/image/types.ts';
import { gatedState, needsVerdict, SIGNATURE_FAILURE_PREFIX, SIGNATURE_INVALID, type SignatureVerdict } from './signatures.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const registry = { repository: '127.0.0.1:5000/containerdisks/fedora', tag: 'latest' };
const verifying: ImageSpec = { source: { registry: { ...registry, verification: { publicKeys: { secretRef: { name: 'keys' } } } } } } as ImageSpec;
const plain: ImageSpec = { source: { registry } } as ImageSpec;

const PHASES: VersionPhase[] = ['Discovered', 'Importing', 'Ready', 'Failed', 'Deprecated', 'Obsolete', 'Deleted'];
const phase = fc.constantFrom(...PHASES);
const version = fc.record({ phase, message: fc.option(fc.constantFrom('import failed', `${SIGNATURE_FAILURE_PREFIX}no signature`), { nil: undefined }) }).map(
  ({ phase: p, message }): RecordedVersion => ({ name: 'v1', digest: DIGEST, phase: p, ...(message !== undefined ? { message } : {}) }),
);
const state = fc.record({ phase, pvcName: fc.option(fc.constant('fedora-v1'), { nil: undefined }) }).map(({ phase: p, pvcName }): VersionState => ({ phase: p, ...(pvcName ? { pvcName } : {}) }));
const verdict: fc.Arbitrary<SignatureVerdict | undefined> = fc.constantFrom<SignatureVerdict | undefined>(
  undefined,
  { kind: 'verified' },
  { kind: 'invalid', message: 'signed by none of the 1 configured key' },
  { kind: 'undecided', problem: { reason: 'SourceUnreachable', message: 'connect ECONNREFUSED' }, permanent: false },
);

describe('gatedState', () => {
  it('changes nothing without verification, apart from recalling its own failures', () => {
    fc.assert(
      fc.property(version, state, verdict, (v, s, d) => {
        const gated = gatedState(plain, v, s, d);
        return v.message?.startsWith(SIGNATURE_FAILURE_PREFIX) && s.phase === 'Failed' && v.phase === 'Failed' ? gated.reason === SIGNATURE_INVALID : gated === s;
      }),
    );
  });

  it('lets a version that VMs cannot boot yet become Ready only with a verified signature', () => {
    fc.assert(
      fc.property(version, state, verdict, (v, s, d) => {
        const gated = gatedState(verifying, v, s, d);
        const becameReady = gated.phase === 'Ready' && !['Ready', 'Deprecated', 'Obsolete'].includes(v.phase);
        return !becameReady || d?.kind === 'verified';
      }),
    );
  });

  it('fails an invalid signature with its reason, and holds an undecided one where it was', () => {
    const v: RecordedVersion = { name: 'v1', digest: DIGEST, phase: 'Importing' };
    const ready: VersionState = { phase: 'Ready', progress: '100.0%', pvcName: 'fedora-v1' };
    expect(gatedState(verifying, v, ready, { kind: 'invalid', message: 'no signature: x has no tag y' })).toEqual({ phase: 'Failed', reason: SIGNATURE_INVALID, message: `${SIGNATURE_FAILURE_PREFIX}no signature: x has no tag y`, pvcName: 'fedora-v1' });
    expect(gatedState(verifying, v, ready, { kind: 'undecided', problem: { reason: 'ServerError', message: 'GET …: 503' }, permanent: false })).toEqual({ phase: 'Importing', progress: '100.0%', pvcName: 'fedora-v1', message: 'waiting to verify the signature: GET …: 503' });
    expect(gatedState(verifying, v, ready, { kind: 'verified' })).toBe(ready);
  });

  it('keeps the reason and message of a version it failed before (a restart forgets the verdict)', () => {
    const failed: RecordedVersion = { name: 'v1', digest: DIGEST, phase: 'Failed', message: `${SIGNATURE_FAILURE_PREFIX}signed by none of the 1 configured key` };
    expect(gatedState(verifying, failed, { phase: 'Failed' }, undefined)).toEqual({ phase: 'Failed', reason: SIGNATURE_INVALID, message: failed.message });
  });
});

describe('needsVerdict', () => {
  it('asks only for a version about to become Ready under verification', () => {
    fc.assert(
      fc.property(version, state, (v, s) => needsVerdict(verifying, v, s) === (s.phase === 'Ready' && ['Discovered', 'Importing', 'Failed', 'Deleted'].includes(v.phase)) && !needsVerdict(plain, v, s)),
    );
  });
});
