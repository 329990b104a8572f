// The control-plane harness leaves nothing behind: neither after a clean stop nor when the
// process that started it is killed outright.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from './harness/paths.ts';

interface Started {
  child: ChildProcessWithoutNullStreams;
  exited: Promise<unknown>;
  pids: number[];
  dir: string;
  lines: AsyncIterator<string>;
}

async function startChild(): Promise<Started> {
  const env = {
    ...process.env,
    TEST_ASSET_KUBE_APISERVER: process.env.VIRTFLEET_TEST_APISERVER,
    TEST_ASSET_ETCD: process.env.VIRTFLEET_TEST_ETCD,
    TEST_ASSET_KUBECTL: process.env.VIRTFLEET_TEST_KUBECTL,
  };
  const child = spawn(process.execPath, ['test/harness/control-plane-child.ts'], { cwd: REPO_ROOT, env });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error('the control plane child exited before it was ready');
  const { pids, dir } = JSON.parse(first.value) as { pids: number[]; dir: string };
  return { child, exited, pids, dir, lines };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function eventually(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return check();
}

describe('control-plane harness', () => {
  it('stops etcd and kube-apiserver and removes its directory on stop()', async () => {
    const { child, exited, pids, dir, lines } = await startChild();
    expect(pids).toHaveLength(2);
    expect(pids.every(alive)).toBe(true);
    expect(existsSync(dir)).toBe(true);
    child.stdin.write('stop\n');
    expect((await lines.next()).value).toBe('stopped');
    await exited;
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  it('leaves nothing behind when its parent is killed with SIGKILL', async () => {
    const { child, pids, dir } = await startChild();
    child.kill('SIGKILL');
    expect(await eventually(() => pids.every((p) => !alive(p)) && !existsSync(dir), 20_000)).toBe(true);
  });
});
