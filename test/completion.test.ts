// Shell completion of names from a real cluster: bash with `virtfleet completion bash` sourced,
// and the real kubectl completing `kubectl virtfleet …` through kubectl_complete-virtfleet on PATH.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { cliBin } from './fixtures/cli-bin.ts';
import { goldenImage, vmFleet } from './fixtures/fleets.ts';
import { bashCompletes, completionScript } from './fixtures/shell-completion.ts';
import { createNamespace, kubectl } from './harness/cluster.ts';

const run = promisify(execFile);
const bin = cliBin();
const home = mkdtempSync(join(tmpdir(), 'virtfleet-completion-'));
const env = { PATH: bin.path, HOME: home };
const kubeconfig = process.env.VIRTFLEET_TEST_KUBECONFIG!;
let ns: Awaited<ReturnType<typeof createNamespace>>;
let script: string;

beforeAll(async () => {
  ns = await createNamespace('completion');
  for (const object of [goldenImage(ns.name, 'fedora'), vmFleet(ns.name, 'web'), vmFleet(ns.name, 'db')]) {
    expect((await kubectl(['apply', '-f', '-'], { input: JSON.stringify(object) })).code).toBe(0);
  }
  script = await completionScript('bash', home, env);
});
afterAll(async () => {
  await ns?.remove();
  bin.remove();
  rmSync(home, { recursive: true, force: true });
});

it('bash completes fleets and GoldenImages of the namespace of the line, and namespaces', async () => {
  const at = `virtfleet status --kubeconfig ${kubeconfig} -n ${ns.name}`;
  expect(await bashCompletes(`${at} `, { script, env })).toEqual(['db', 'goldenimage/', 'vmfleet/', 'web']);
  expect(await bashCompletes(`${at} w`, { script, env })).toEqual(['web']);
  expect(await bashCompletes(`${at} goldenimage/`, { script, env })).toEqual(['goldenimage/fedora']);
  expect(await bashCompletes(`virtfleet plan --kubeconfig ${kubeconfig} -n ${ns.name.slice(0, -3)}`, { script, env })).toContain(ns.name);
  // Another namespace has none of them.
  expect(await bashCompletes(`virtfleet status --kubeconfig ${kubeconfig} -n default `, { script, env })).toEqual(['goldenimage/', 'vmfleet/']);
});

it('kubectl completes the plugin through kubectl_complete-virtfleet: subcommands, flags and names', async () => {
  const complete = async (...words: string[]) => (await run(process.env.VIRTFLEET_TEST_KUBECTL!, ['__complete', 'virtfleet', ...words], { env: { ...env, KUBECONFIG: kubeconfig }, timeout: 60_000 })).stdout.split('\n');
  expect(await complete('pl')).toEqual(expect.arrayContaining([expect.stringMatching(/^plan\t/), ':4']));
  expect(await complete('plan', '-o', '')).toEqual(expect.arrayContaining(['table', 'json', 'yaml', ':4']));
  // The cluster of KUBECONFIG, as kubectl itself would use.
  const names = await complete('status', '-n', ns.name, '');
  expect(names).toEqual(expect.arrayContaining(['db', 'web', 'vmfleet/', 'goldenimage/']));
});

it('a cluster that does not answer costs the short lookup timeout, not the 15 s of plan and status, and prints nothing else', async () => {
  // Accepts connections, reads what comes and never says a word.
  const sockets: Socket[] = [];
  const silent = createServer((socket) => sockets.push(socket.resume()));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const dead = join(home, 'silent.kubeconfig');
    writeFileSync(dead, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'silent',
      clusters: [{ name: 'silent', cluster: { server: `https://127.0.0.1:${(silent.address() as AddressInfo).port}` } }],
      contexts: [{ name: 'silent', context: { cluster: 'silent', user: 'silent' } }],
      users: [{ name: 'silent', user: { token: 'x' } }],
    }));
    const started = Date.now();
    const { stdout, stderr } = await run('virtfleet', ['__complete', 'status', '--kubeconfig', dead, ''], { env, timeout: 60_000 });
    expect([stdout, stderr]).toEqual(['vmfleet/\ngoldenimage/\n:6\n', '']);
    // The lookup's 2 s, and the start of a Node.js process on a busy machine.
    expect(Date.now() - started).toBeLessThan(12_000);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});
