import { describe, expect, it } from '@jest/globals';
import { INVALID_CASES, goldenImage, vmFleet } from '../../../test/fixtures/invalid-resources.ts';
import { ManifestValidator } from './validator.ts';
import { registerCrds } from './kubevirt.ts';

const validator = new ManifestValidator();
registerCrds(validator);

describe('offline validation', () => {
  it('accepts the examples', () => {
    expect(validator.validate(goldenImage())).toEqual([]);
    expect(validator.validate(vmFleet())).toEqual([]);
  });

  it.each(INVALID_CASES)('refuses $name with the API server\'s message', ({ object, message }) => {
    const violations = validator.validate(object);
    expect(violations.map((v) => v.message).join('\n')).toContain(message);
  });

  it('prunes a null in a non-nullable field as the API server does, instead of calling it a wrong type', () => {
    const fleet = vmFleet();
    fleet.spec.minReadySeconds = null;
    fleet.spec.updateStrategy.rollingUpdate.maxSurge = null;
    fleet.spec.template.spec.runStrategy = null;
    expect(validator.validate(fleet)).toEqual([]);
    // Pruned from the validator's copy only: the caller's object is unchanged.
    expect(fleet.spec.minReadySeconds).toBeNull();
    // A required field set to null is missing after pruning.
    const image = goldenImage();
    image.spec.source = null;
    expect(validator.validate(image).map((v) => v.message).join('\n')).toMatch(/Required value|exactly one/);
  });

  it('names the JSON path and the rule of each violation', () => {
    const fleet = vmFleet();
    fleet.spec.updateStrategy.rollingUpdate.maxSurge = '0%';
    fleet.spec.updateStrategy.rollingUpdate.maxUnavailable = 0;
    expect(validator.validate(fleet)).toEqual([
      {
        path: '.spec.updateStrategy.rollingUpdate',
        rule: expect.stringContaining('maxUnavailable == 0'),
        message: 'maxUnavailable and maxSurge cannot both be zero',
      },
    ]);
  });

  it('applies schema defaults before the CEL rules, as the API server does', () => {
    const fleet = vmFleet();
    fleet.spec.updateStrategy.rollingUpdate = { maxUnavailable: 0 }; // maxSurge defaults to 0
    expect(validator.validate(fleet).map((v) => v.message)).toContain('maxUnavailable and maxSurge cannot both be zero');
  });

  it('reports fields the schema does not know', () => {
    const fleet = vmFleet();
    fleet.spec.replica = 3;
    expect(validator.validate(fleet)).toContainEqual(expect.objectContaining({ path: '.spec', message: 'unknown field "replica"' }));
  });

  it('checks the embedded VirtualMachine template against KubeVirt\'s schema', () => {
    const fleet = vmFleet();
    fleet.spec.template.spec.template.spec.domain.cpu.sockets = 'two';
    fleet.spec.template.spec.template.spec.domain.devices.disks[0].disk.buss = 'virtio';
    const violations = validator.validate(fleet);
    expect(violations).toContainEqual(expect.objectContaining({
      path: '.spec.template.spec.template.spec.domain.cpu.sockets',
      rule: expect.stringContaining('KubeVirt VirtualMachine schema'),
    }));
    expect(violations).toContainEqual(expect.objectContaining({
      path: '.spec.template.spec.template.spec.domain.devices.disks[0].disk',
      message: 'unknown field "buss"',
    }));
  });

  it('does not change the object it validates', () => {
    const fleet = vmFleet();
    const before = JSON.stringify(fleet);
    validator.validate(fleet);
    expect(JSON.stringify(fleet)).toBe(before);
  });
});
