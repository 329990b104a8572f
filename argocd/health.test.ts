// The Argo CD health checks under both interpreters: Lua 5.1 (lua5.1) and gopher-lua, the one
// Argo CD embeds (hack/lua-health, which reads health_test.yaml as Argo CD's own test does). Both
// must give every case's expected status and message, with the libraries Argo CD opens for a
// check shipped in argocd-cm (no string, no math) and with all of them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { validatePaths } from '../controller/cli/validate.ts';
import { ARGOCD_CM, argocdCm, healthKey } from '../hack/argocd-cm.ts';
import { CUSTOMIZATIONS, healthCases, healthChecks, readInput, runLua51, type HealthStatus } from './health-checks.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const cases = healthCases();

interface GopherResult extends HealthStatus {
  name: string;
  libs: 'closed' | 'open';
  want: HealthStatus;
  ok: boolean;
  error?: string;
}

let harness: string;
beforeAll(() => {
  harness = execFileSync('bash', [join(ROOT, 'hack/lua-health/build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}, 300_000);

/** Runs the gopher-lua harness over a resource_customizations directory (exit 1 = a case failed). */
function gopher(root: string): GopherResult[] {
  let out: string;
  try {
    out = execFileSync(harness, ['-json', '-libs', 'both', root], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    if (e.status !== 1 || e.stdout === undefined) throw new Error(`lua-health failed: ${e.stderr}`);
    out = e.stdout;
  }
  return out.trim().split('\n').map((line) => JSON.parse(line) as GopherResult);
}

describe('Argo CD health checks', () => {
  it('exist for VMFleet and GoldenImage, each with cases of every status it can report', () => {
    expect(healthChecks().map((c) => `${c.group}/${c.kind}`)).toEqual(['virtfleet.io/GoldenImage', 'virtfleet.io/VMFleet']);
    const statuses = (kind: string) => new Set(cases.filter((c) => c.check.kind === kind).map((c) => c.want.status));
    expect(statuses('VMFleet')).toEqual(new Set(['Healthy', 'Progressing', 'Degraded', 'Suspended']));
    expect(statuses('GoldenImage')).toEqual(new Set(['Healthy', 'Progressing', 'Degraded']));
    // The cases the checks are specified by, for both kinds where the kind has the state.
    for (const kind of ['VMFleet', 'GoldenImage']) {
      for (const input of ['healthy', 'progressing-no-status', 'progressing-generation', 'degraded-stalled']) {
        expect(cases.map((c) => c.name)).toContain(`virtfleet.io/${kind}/testdata/${input}.yaml`);
      }
    }
    for (const input of ['progressing-rollout', 'progressing-migration', 'suspended-paused', 'healthy-canaries-below-partition', 'healthy-ondelete-outdated']) {
      expect(cases.map((c) => c.name)).toContain(`virtfleet.io/VMFleet/testdata/${input}.yaml`);
    }
  });

  it('use no library Argo CD leaves closed (string, math, io, debug, coroutine)', () => {
    for (const check of healthChecks()) {
      const code = check.script.replace(/--[^\n]*/g, '');
      expect(code).not.toMatch(/\b(string|math|io|debug|coroutine)\s*\.|:\s*(len|sub|find|format|match|gsub|lower|upper|rep)\s*\(/);
    }
  });

  it('run on test data the API accepts (the same schemas and CEL rules as the CRDs)', () => {
    const dirs = healthChecks().map((c) => join(c.dir, 'testdata'));
    const report = validatePaths(dirs);
    expect(report.lines.filter((l) => !l.endsWith(' 0 invalid'))).toEqual([]);
    expect(report.exitCode).toBe(0);
  });

  describe.each([false, true])('on Lua 5.1, open libs %s', (openLibs) => {
    it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      expect(runLua51(c.check.script, readInput(c.inputPath), { openLibs })).toEqual(c.want);
    });
  });

  it('on gopher-lua, with the libraries Argo CD opens and with all of them', () => {
    const results = gopher(CUSTOMIZATIONS);
    expect(results).toHaveLength(cases.length * 2);
    for (const r of results) {
      const c = cases.find((x) => x.name === r.name);
      expect({ case: r.name, libs: r.libs, error: r.error, got: { status: r.status, message: r.message } }).toEqual({ case: r.name, libs: r.libs, error: undefined, got: c?.want });
    }
  });

  it('both interpreters give one result for every case', () => {
    const lua51 = new Map(cases.map((c) => [c.name, runLua51(c.check.script, readInput(c.inputPath))]));
    for (const r of gopher(CUSTOMIZATIONS).filter((x) => x.libs === 'closed')) expect([r.name, { status: r.status, message: r.message }]).toEqual([r.name, lua51.get(r.name)]);
  });

  it('ship in argocd/argocd-cm.yaml as they are in their files (node hack/argocd-cm.ts)', () => {
    expect(readFileSync(ARGOCD_CM, 'utf8')).toBe(argocdCm());
    const data = (parse(readFileSync(ARGOCD_CM, 'utf8')) as { data: Record<string, string> }).data;
    expect(Object.keys(data).sort()).toEqual(['resource.customizations.health.virtfleet.io_GoldenImage', 'resource.customizations.health.virtfleet.io_VMFleet']);
    for (const c of cases) expect(runLua51(data[healthKey(c.check.group, c.check.kind)]!, readInput(c.inputPath))).toEqual(c.want);
  });

  it('come with an example Application that leaves an autoscaled spec.replicas alone', () => {
    const app = parse(readFileSync(join(ROOT, 'argocd/application.yaml'), 'utf8')) as { kind: string; spec: { ignoreDifferences: unknown[]; syncPolicy: { syncOptions: string[] } } };
    expect(app.kind).toBe('Application');
    expect(app.spec.ignoreDifferences).toContainEqual({ group: 'virtfleet.io', kind: 'VMFleet', jsonPointers: ['/spec/replicas'] });
    expect(app.spec.syncPolicy.syncOptions).toEqual(expect.arrayContaining(['ServerSideApply=true', 'RespectIgnoreDifferences=true']));
  });

  describe('the harnesses refuse what Argo CD would', () => {
    let dir: string;
    const write = (kind: string, script: string) => {
      const d = join(dir, 'example.io', kind);
      mkdirSync(join(d, 'testdata'), { recursive: true });
      writeFileSync(join(d, 'health.lua'), script);
      writeFileSync(join(d, 'testdata', 'x.yaml'), 'apiVersion: example.io/v1\nkind: X\nmetadata:\n  name: x\n  generation: 2\n');
      writeFileSync(join(d, 'health_test.yaml'), 'tests:\n  - healthStatus:\n      status: Healthy\n      message: "generation 2"\n    inputPath: testdata/x.yaml\n');
    };
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'virtfleet-lua-'));
      write('StringLib', 'return { status = "Healthy", message = string.format("generation %d", obj.metadata.generation) }');
      write('StringMethod', 'local s = "generation " .. obj.metadata.generation\nreturn { status = "Healthy", message = s:sub(1) }');
      write('MathLib', 'return { status = "Healthy", message = "generation " .. math.floor(obj.metadata.generation) }');
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('a script that needs string or math fails with closed libs and passes with open ones, in both', () => {
      const byCase = new Map<string, GopherResult[]>();
      for (const r of gopher(dir)) byCase.set(r.name, [...(byCase.get(r.name) ?? []), r]);
      for (const kind of ['StringLib', 'StringMethod', 'MathLib']) {
        const runs = byCase.get(`example.io/${kind}/testdata/x.yaml`)!;
        expect(runs.find((r) => r.libs === 'closed')!.ok).toBe(false);
        expect(runs.find((r) => r.libs === 'open')!.ok).toBe(true);
        const obj = readInput(join(dir, 'example.io', kind, 'testdata', 'x.yaml'));
        const script = healthChecks(dir).find((c) => c.kind === kind)!.script;
        expect(() => runLua51(script, obj)).toThrow();
        expect(runLua51(script, obj, { openLibs: true })).toEqual({ status: 'Healthy', message: 'generation 2' });
      }
    });

    it('Lua 5.1 gets every string and number as it is', () => {
      const message = 'quote "345, newline\n255, backslash\\9, tab\t0, ünïcödé ✓, 0.5 and 1e21';
      const obj = { metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': message } }, n: [0.5, -3, 1e21] };
      const script = 'return { status = "Healthy", message = obj.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"] .. "|" .. obj.n[1] .. "|" .. obj.n[2] .. "|" .. obj.n[3] }';
      expect(runLua51(script, obj)).toEqual({ status: 'Healthy', message: `${message}|0.5|-3|1e+21` });
    });

    it('an unknown status becomes Unknown, as in Argo CD', () => {
      expect(runLua51('return { status = "Fine", message = "x" }', {})).toEqual({ status: 'Unknown', message: 'Lua returned an invalid health status' });
    });
  });
});
