// `virtfleet up` and `virtfleet down` as the README has a newcomer run them: a local cluster
// that kubectl can use, with simulated KubeVirt, and nothing left running afterwards.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, expect, it } from '@jest/globals';
import { stringify } from 'yaml';
import { virtualMachine } from './fixtures/vms.ts';
import { REPO_ROOT } from './harness/paths.ts';
import { waitFor } from './harness/wait.ts';

const run = promisify(execFile);
const home = mkdtempSync(join(tmpdir(), 'virtfleet-home-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

const env = {
  ...process.env,
  VIRTFLEET_HOME: home,
  TEST_ASSET_KUBE_APISERVER: process.env.VIRTFLEET_TEST_APISERVER,
  TEST_ASSET_ETCD: process.env.VIRTFLEET_TEST_ETCD,
  TEST_ASSET_KUBECTL: process.env.VIRTFLEET_TEST_KUBECTL,
};
const virtfleet = (...args: string[]) => run(process.execPath, ['controller/cli/main.ts', ...args], { cwd: REPO_ROOT, env });

async function processes(name: string): Promise<string[]> {
  const { stdout } = await run('pgrep', ['-x', name]).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter(Boolean).sort();
}

it('up serves a cluster with simulated KubeVirt to kubectl, and down stops all of it', async () => {
  const before = [...(await processes('kube-apiserver')), ...(await processes('etcd'))];
  const up = spawn(process.execPath, ['controller/cli/main.ts', 'up', '--nodes', '2', '--speed', '10'], { cwd: REPO_ROOT, env });
  const exited = new Promise<number | null>((resolve) => up.once('exit', resolve));
  let kubeconfig = '';
  for await (const line of createInterface({ input: up.stdout })) {
    const match = /^kubeconfig: (.+)$/.exec(line);
    if (match) {
      kubeconfig = match[1]!;
      break;
    }
  }
  expect(kubeconfig).toBe(join(home, 'kubeconfig'));
  const kubectl = (...args: string[]) => run(process.env.VIRTFLEET_TEST_KUBECTL!, ['--kubeconfig', kubeconfig, ...args]);

  const nodes = await kubectl('get', 'nodes', '-o', 'name');
  expect(nodes.stdout.trim().split('\n')).toHaveLength(2);
  const vm = virtualMachine('default', 'hello');
  const apply = spawn(process.env.VIRTFLEET_TEST_KUBECTL!, ['--kubeconfig', kubeconfig, 'apply', '-f', '-']);
  apply.stdin.end(stringify(vm));
  await new Promise((r) => apply.once('exit', r));
  await waitFor('VM Running in kubectl get vms', async () => (await kubectl('get', 'vms', 'hello', '-o', 'jsonpath={.status.printableStatus}')).stdout === 'Running', 60_000, 250);

  await virtfleet('down');
  expect(await exited).toBe(0);
  expect(existsSync(kubeconfig)).toBe(false);
  const after = [...(await processes('kube-apiserver')), ...(await processes('etcd'))];
  // None of the servers `up` started survives (others' servers may come and go meanwhile).
  expect(after.filter((pid) => !before.includes(pid))).toEqual([]);
});
