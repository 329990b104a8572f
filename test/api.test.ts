// The API as users meet it: the real kube-apiserver accepts the examples, refuses invalid
// resources with the schema's and CEL rules' messages, and kubectl explains, lists and scales.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stringify } from 'yaml';
import { INVALID_CASES, goldenImage, vmFleet, type Obj } from './fixtures/invalid-resources.ts';
import { createError, createNamespace, kubectl, objectApi } from './harness/cluster.ts';
import { VIRTFLEET_CRD_DIR } from './harness/paths.ts';

let ns: Awaited<ReturnType<typeof createNamespace>>;
beforeAll(async () => (ns = await createNamespace('api')));
afterAll(async () => ns.remove());

/** The object in this test's namespace, renamed when a name is given. */
const inNamespace = (o: Obj, name?: string): Obj => ({ ...o, metadata: { ...o.metadata, name: name ?? o.metadata.name, namespace: ns.name } });

describe('admission', () => {
  it('accepts the examples', async () => {
    expect(await createError(inNamespace(goldenImage()))).toBeUndefined();
    expect(await createError(inNamespace(vmFleet()))).toBeUndefined();
  });

  it.each(INVALID_CASES)('refuses $name', async ({ object, message }) => {
    const refusal = await createError(inNamespace(object));
    expect(refusal).toContain(message);
  });

  it('keeps a recorded version immutable', async () => {
    const image: Obj = await objectApi().create(inNamespace(goldenImage(), 'immutable'));
    image.spec.versions[0].digest = `sha256:${'b'.repeat(64)}`;
    await expect(objectApi().replace(image).catch((e: { body: string }) => Promise.reject(new Error(e.body)))).rejects.toThrow('a version is immutable once recorded');
  });

  it('keeps the fleet selector immutable', async () => {
    const fleet: Obj = await objectApi().create(inNamespace(vmFleet(), 'fixed-selector'));
    fleet.spec.selector.matchLabels = { app: 'ci-runner', tier: 'x' };
    fleet.spec.template.metadata.labels.tier = 'x';
    await expect(objectApi().replace(fleet).catch((e: { body: string }) => Promise.reject(new Error(e.body)))).rejects.toThrow('selector is immutable');
  });

  it('fills defaults a user leaves out', async () => {
    const fleet = vmFleet();
    delete fleet.spec.updateStrategy;
    delete fleet.spec.remediation;
    const created: Obj = await objectApi().create(inNamespace(fleet, 'defaults'));
    expect(created.spec.updateStrategy).toEqual({ type: 'RollingUpdate' });
    expect(created.spec.remediation.liveMigration).toEqual({ enabled: true, maxConcurrent: 2, timeout: '30m', fallback: 'None' });
    expect(created.spec.replicas).toBe(10);
    expect(created.spec.template.spec.runStrategy).toBe('Always');
  });
});

describe('kubectl', () => {
  it('applies the CRDs client-side', async () => {
    const result = await kubectl(['apply', '-f', VIRTFLEET_CRD_DIR]);
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toMatch(/customresourcedefinition.apiextensions.k8s.io\/vmfleets.virtfleet.io (configured|unchanged)/);
  });

  it('explains fields from their descriptions', async () => {
    const result = await kubectl(['explain', 'vmfleet.spec.updateStrategy']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('How a changed template or image version reaches existing VMs.');
    expect(result.stdout).toContain('rollingUpdate');
    expect(result.stdout).toContain('RollingUpdate replaces VMs under the limits below');
  });

  it('lists fleets with the printer columns', async () => {
    const name = 'columns';
    await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: stringify({ ...vmFleet(), metadata: { name } }) });
    const result = await kubectl(['get', 'vmfleets', '-n', ns.name, name]);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[0]!.split(/\s+/).filter(Boolean)).toEqual(['NAME', 'READY', 'DESIRED', 'CURRENT', 'UPDATED', 'DRIFTED', 'MIGRATING', 'IMAGE', 'AGE']);
    expect(result.stdout).toMatch(new RegExp(`^${name}\\s+10\\s`, 'm'));
  });

  it('finds both kinds by short name and category', async () => {
    await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: stringify({ ...goldenImage(), metadata: { name: 'by-category' } }) });
    const result = await kubectl(['get', 'virtfleet', '-n', ns.name, '-o', 'name']);
    expect(result.stdout).toContain('goldenimage.virtfleet.io/by-category');
    expect((await kubectl(['get', 'gimg,vmfl', '-n', ns.name])).code).toBe(0);
  });

  it('scales a fleet through the scale subresource', async () => {
    const name = 'scaled';
    await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: stringify({ ...vmFleet(), metadata: { name } }) });
    const result = await kubectl(['scale', '-n', ns.name, `vmfleet/${name}`, '--replicas=3']);
    expect(result).toMatchObject({ code: 0 });
    const replicas = await kubectl(['get', '-n', ns.name, `vmfleet/${name}`, '-o', 'jsonpath={.spec.replicas}']);
    expect(replicas.stdout).toBe('3');
  });
});
