// `virtfleet status --watch` in a real terminal (tmux) during a rollout: the screen is redrawn
// with the rollout's progress bar, and ends with every VM updated. Also the plain and JSON views.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { RESOURCES } from '../controller/kube/resources.ts';
import { vmFleet } from './fixtures/fleets.ts';
import { fleetCluster, type FleetCluster } from './harness/fleet.ts';
import { REPO_ROOT } from './harness/paths.ts';
import { waitFor } from './harness/wait.ts';

const run = promisify(execFile);
const tmux = (...args: string[]) => run('tmux', args, { timeout: 10_000 });

let c: FleetCluster;
const session = `virtfleet-status-${process.pid}`;
beforeAll(async () => (c = await fleetCluster('status', { nodes: { count: 3 } })));
afterAll(async () => {
  await tmux('kill-session', '-t', session).catch(() => undefined);
  await c?.stop();
});

const cli = (...args: string[]) => [process.execPath, join(REPO_ROOT, 'controller/cli/main.ts'), 'status', '--kubeconfig', process.env.VIRTFLEET_TEST_KUBECONFIG!, '-n', c.namespace, ...args];

it('shows fleets, a fleet\'s VMs and JSON, and redraws a rollout in a terminal with a progress bar', async () => {
  await c.client.create(RESOURCES.vmFleet, vmFleet(c.namespace, 'web', { replicas: 4, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } }, minReadySeconds: 1 }));
  await c.waitForFleet('web', '4 ready', (s) => s.readyReplicas === 4 && s.updatedReplicas === 4);

  const [bin, ...args] = cli();
  const list = await run(bin!, args, { timeout: 20_000 });
  expect(list.stdout).toMatch(/^NAME\s+DESIRED\s+READY\s+UPDATED\s+DRIFTED\s+MIGRATING\s+IMAGE\s+PROGRESSING\n/);
  expect(list.stdout).toMatch(/web\s+4\s+4\s+4\s+0\s+0\s+v1\s+True NewRevisionAvailable/);
  const json = JSON.parse((await run(bin!, [...args, 'vmfleet/web', '-o', 'json'], { timeout: 20_000 })).stdout) as { fleet: { ready: number }; vms: { name: string; node: string }[] };
  expect(json.fleet.ready).toBe(4);
  expect(json.vms.map((v) => v.name)).toEqual(['web-0', 'web-1', 'web-2', 'web-3']);
  expect(json.vms.every((v) => v.node !== '')).toBe(true);
  const missing = await run(bin!, [...args, 'nope'], { timeout: 20_000 }).then(() => undefined, (err: { code: number; stderr: string }) => err);
  expect(missing?.code).toBe(2);
  expect(missing?.stderr.trim()).toBe(`error: VMFleet ${c.namespace}/nope not found`);

  // A real terminal: tmux runs the watch, the test reads the screen as it is redrawn.
  const command = cli('web', '--watch', '--interval', '0.3').map((a) => `'${a}'`).join(' ');
  await tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '40', command);
  const screen = async () => (await tmux('capture-pane', '-p', '-t', session)).stdout;
  await waitFor('the first view', async () => (await screen()).includes('rollout [####################] 4/4'), 20_000, 200);
  await c.client.mergePatch(RESOURCES.vmFleet, { namespace: c.namespace, name: 'web' }, { spec: { image: { channel: null, version: 'v2' } } });
  const seen = new Set<string>();
  await waitFor('the rollout drawn to its end', async () => {
    const text = await screen();
    const bar = /rollout (\[[#-]+\] \d\/4)/.exec(text)?.[1];
    if (bar) seen.add(bar);
    return /rollout \[#{20}\] 4\/4/.test(text) && /image v2\n/.test(text) && seen.size > 2;
  }, 60_000, 100);
  // Bars in between were drawn on the same screen, and the VMs' table shows the new revision.
  expect([...seen].some((b) => /\] [123]\/4/.test(b))).toBe(true);
  const last = await screen();
  expect(last).toMatch(/VM\s+NODE\s+REVISION\s+STATE/);
  expect(last).not.toContain('(old)');
  expect(last.match(/VMFleet /g)).toHaveLength(1); // redrawn in place, not appended
  await tmux('send-keys', '-t', session, 'C-c');
});
