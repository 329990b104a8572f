// `virtfleet validate` as a user runs it: the real command in a child process.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { stringify } from 'yaml';
import { goldenImage, vmFleet } from '../../test/fixtures/invalid-resources.ts';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');
const EXAMPLES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples');
const dir = mkdtempSync(join(tmpdir(), 'virtfleet-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function validate(...paths: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, 'validate', ...paths.flatMap((p) => ['-f', p])], (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe('virtfleet validate', () => {
  it('exits 0 on the examples directory', async () => {
    const result = await validate(EXAMPLES);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('3 document(s) checked, 0 invalid');
  });

  it('exits 1 and names file, document, path and rule of each error in multi-document YAML', async () => {
    const fleet = vmFleet();
    fleet.spec.updateStrategy.rollingUpdate.maxSurge = 0;
    fleet.spec.updateStrategy.rollingUpdate.maxUnavailable = 0;
    const image = goldenImage();
    image.spec.storage.type = 'Snapshot';
    const path = file('mixed.yaml', [stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ci' } }), stringify(image), stringify(fleet)].join('---\n'));
    const result = await validate(path);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`${path}: document 1 (Namespace/ci): skipped, no schema for v1 Namespace`);
    expect(result.stdout).toContain(`${path}: document 2 (GoldenImage/fedora): .spec.storage.type: Unsupported value: supported values: "ContainerDisk", "DataVolume" [schema: enum]`);
    expect(result.stdout).toMatch(new RegExp(`${path}: document 3 \\(VMFleet/ci-runners\\): \\.spec\\.updateStrategy\\.rollingUpdate: maxUnavailable and maxSurge cannot both be zero \\[!\\(\\(self\\.maxUnavailable`));
    expect(result.stdout).toContain('2 document(s) checked, 2 invalid');
  });

  it('exits 2 on a missing file', async () => {
    const result = await validate(join(dir, 'nope.yaml'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('nope.yaml: no such file or directory');
  });

  it('exits 2 on a path that cannot be read (a symlink loop)', async () => {
    const path = join(dir, 'loop.yaml');
    symlinkSync(path, path);
    const result = await validate(path);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('loop.yaml');
  });

  it('exits 2 on text that is not YAML', async () => {
    const result = await validate(file('broken.yaml', 'kind: VMFleet\nspec: [unclosed\n'));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/broken\.yaml: document 1: not valid YAML/);
  });
});
