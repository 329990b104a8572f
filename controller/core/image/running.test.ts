import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { V1DataVolumeTemplateSpec, V1VirtualMachine, V1VirtualMachineInstance, V1Volume } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import { healthyOnVersion, runsVersion } from './rollback.ts';
import { judgeFleetVM, type JudgeVMInput } from './running.ts';
import type { ImageRef, ImageSpec, RecordedVersion } from './types.ts';

const image: ImageRef = { namespace: 'images', name: 'fedora', uid: 'u' };
const REPO = '127.0.0.1:5000/disks/fedora';
const digest = (c: string): string => `sha256:${c.repeat(64)}`;
const v1: RecordedVersion = { name: 'v1', phase: 'Ready', digest: digest('1'), pvcName: 'fedora-v1' };
const v2: RecordedVersion = { name: 'v2', phase: 'Ready', digest: digest('2'), pvcName: 'fedora-v2' };
const registrySpec: ImageSpec = { source: { registry: { repository: REPO } } };
const NOW = Date.parse('2026-05-01T12:00:00.000Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();
const ready = (sinceSecondsAgo: number) => [{ type: 'Ready', status: 'True', lastTransitionTime: ago(sinceSecondsAgo) }];

const disk = (digestOf: RecordedVersion): V1Volume => ({ name: 'rootdisk', containerDisk: { image: `${REPO}@${digestOf.digest!}` } });
const mount = (dv: string): V1Volume => ({ name: 'rootdisk', dataVolume: { name: dv } });
const cloneOf = (name: string, pvc: string): V1DataVolumeTemplateSpec => ({ metadata: { name }, spec: { source: { pvc: { namespace: 'images', name: pvc } }, storage: {} } });

function vm(volume: V1Volume, vmReadyFor: number | undefined, templates: V1DataVolumeTemplateSpec[] = []): V1VirtualMachine {
  return {
    metadata: { namespace: 'apps', name: 'web-0' },
    spec: { ...(templates.length ? { dataVolumeTemplates: templates } : {}), template: { spec: { domain: { devices: {} }, volumes: [volume] } } },
    status: vmReadyFor === undefined ? { ready: false } : { ready: true, conditions: ready(vmReadyFor) as never },
  };
}
function vmi(volume: V1Volume, readyFor: number | undefined, over: Partial<V1VirtualMachineInstance> = {}): V1VirtualMachineInstance {
  return {
    metadata: { namespace: 'apps', name: 'web-0', uid: 'vmi-uid' },
    spec: { domain: { devices: {} }, volumes: [volume] },
    status: readyFor === undefined ? { phase: 'Scheduled' } : { phase: 'Running', conditions: ready(readyFor) as never },
    ...over,
  };
}
const judge = (over: Partial<JudgeVMInput> & Pick<JudgeVMInput, 'vm'>) =>
  judgeFleetVM({ image, spec: registrySpec, version: v2, vmi: undefined, dataSources: [], minReadyMs: 0, now: NOW, ...over });

describe('judgeFleetVM', () => {
  it('does not count a VM updated onto the version whose instance still runs the old one, however Ready', () => {
    const judged = judge({ vm: vm(disk(v2), 3600), vmi: vmi(disk(v1), 3600) });
    expect(judged).toEqual({ name: 'web-0', specOnVersion: true, instance: 'other', ready: true });
    expect([runsVersion(judged), healthyOnVersion(judged)]).toEqual([false, false]);
  });

  it('counts a VM restarted onto the version, healthy once Ready on the new instance for minReadySeconds', () => {
    // The VM's status still says Ready since an hour (it lags); the new instance is Ready for 2 s.
    const young = judge({ vm: vm(disk(v2), 3600), vmi: vmi(disk(v2), 2), minReadyMs: 5_000 });
    expect(young).toEqual({ name: 'web-0', specOnVersion: true, instance: 'onVersion', ready: false, healthyAt: NOW + 3_000 });
    expect(runsVersion(young)).toBe(true);
    const old = judge({ vm: vm(disk(v2), 10), vmi: vmi(disk(v2), 10), minReadyMs: 5_000 });
    expect(healthyOnVersion(old)).toBe(true);
  });

  it('counts a VM on the version that has no instance or a failing one, as not healthy', () => {
    const none = judge({ vm: vm(disk(v2), undefined) });
    expect([none.instance, runsVersion(none), healthyOnVersion(none)]).toEqual(['none', true, false]);
    const failing = judge({ vm: vm(disk(v2), undefined), vmi: { ...vmi(disk(v2), undefined), status: { phase: 'Failed' } } });
    expect([failing.instance, runsVersion(failing), healthyOnVersion(failing)]).toEqual(['onVersion', true, false]);
    const deleting = judge({ vm: vm(disk(v2), 60), vmi: vmi(disk(v2), 60, { metadata: { name: 'web-0', namespace: 'apps', deletionTimestamp: new Date(NOW).toISOString() } }) });
    expect(healthyOnVersion(deleting)).toBe(false);
  });

  it('leaves out a VM stopped on purpose: a stopped VM neither fails nor passes its version', () => {
    for (const spec of [{ runStrategy: 'Halted' }, { runStrategy: 'Manual' }, { running: false }] as const) {
      const stopped = judge({ vm: { ...vm(disk(v2), undefined), spec: { ...vm(disk(v2), undefined).spec, ...spec } } });
      expect([stopped.stopped, runsVersion(stopped), healthyOnVersion(stopped)]).toEqual([true, false, false]);
    }
    // Asked to run (Always, RerunOnFailure, Once) and without an instance: it runs the version and is not healthy.
    for (const runStrategy of ['Always', 'RerunOnFailure', 'Once']) {
      const starting = judge({ vm: { ...vm(disk(v2), undefined), spec: { ...vm(disk(v2), undefined).spec, runStrategy } } });
      expect([starting.stopped, runsVersion(starting)]).toEqual([undefined, true]);
    }
  });

  it('follows DataVolume image disks: the instance runs the version whose disk it mounts', () => {
    const dvSpec: ImageSpec = { source: { registry: { repository: REPO } }, storage: { type: 'DataVolume', size: '1Gi' } };
    // The template was renamed for v2; the running instance still mounts the v1 disk.
    const updated = vm(mount('web-0-rootdisk-v2'), 60, [cloneOf('web-0-rootdisk-v2', 'fedora-v2')]);
    const before = judge({ spec: dvSpec, vm: updated, vmi: vmi(mount('web-0-rootdisk-v1'), 60) });
    expect([before.specOnVersion, before.instance]).toEqual([true, 'other']);
    const after = judge({ spec: dvSpec, vm: updated, vmi: vmi(mount('web-0-rootdisk-v2'), 60) });
    expect(healthyOnVersion(after)).toBe(true);
    // Judged against v1, the VM that moved to v2 runs it no more.
    expect(runsVersion(judge({ spec: dvSpec, version: v1, vm: updated, vmi: vmi(mount('web-0-rootdisk-v2'), 60) }))).toBe(false);
  });

  it('is healthy on a version only when spec and instance both boot it and both are Ready long enough (property)', () => {
    const version = fc.constantFrom(v1, v2);
    fc.assert(fc.property(version, version, fc.option(version, { nil: undefined }), fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }), fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }), fc.integer({ min: 0, max: 10 }), (judged, ofSpec, ofInstance, vmReady, vmiReady, minReadyS) => {
      const j = judge({ version: judged, vm: vm(disk(ofSpec), vmReady), vmi: ofInstance ? vmi(disk(ofInstance), vmiReady) : undefined, minReadyMs: minReadyS * 1000 });
      expect(j.specOnVersion).toBe(ofSpec === judged);
      expect(j.instance).toBe(ofInstance === undefined ? 'none' : ofInstance === judged ? 'onVersion' : 'other');
      const longEnough = vmReady !== undefined && vmiReady !== undefined && Math.min(vmReady, vmiReady) >= minReadyS;
      expect(healthyOnVersion(j)).toBe(ofSpec === judged && ofInstance === judged && longEnough);
    }));
  });
});
