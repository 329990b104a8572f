// `virtfleet status [fleet|goldenimage/<name>]`: one view of fleets, a fleet's VMs, or an image,
// read from the cluster; `--watch` redraws while a rollout or migration wave runs (a progress bar
// on a terminal, plain changed lines otherwise); `-o json`. Read only.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import type { KubeClient } from '../kube/client.ts';
import { RESOURCES } from '../kube/resources.ts';
import type { Migration } from '../fleet/remediation.ts';
import { connect, describeError, type ClusterFlags } from './cluster.ts';
import { UsageError } from './client-config.ts';
import { fleetRow, ownedVMs, renderFleet, renderFleets, renderImage, vmRows } from './status-view.ts';
import type { StatusOutput } from './outputs.ts';
import { TARGET_KINDS } from './targets.ts';

export interface StatusFlags extends ClusterFlags {
  /** Checked by the program's -o choices. */
  output: StatusOutput;
  watch?: boolean;
  interval: string;
}

type Target = { kind: 'fleets' } | { kind: 'fleet'; name: string } | { kind: 'image'; name: string };

function targetOf(arg: string | undefined): Target {
  if (!arg) return { kind: 'fleets' };
  const [kind, name, extra] = arg.split('/');
  if (name === undefined) return { kind: 'fleet', name: kind! };
  if (extra !== undefined || !name) throw new UsageError(`${arg}: name a fleet, vmfleet/<name> or goldenimage/<name>`);
  if (TARGET_KINDS.image.includes(kind!.toLowerCase())) return { kind: 'image', name };
  if (TARGET_KINDS.fleet.includes(kind!.toLowerCase())) return { kind: 'fleet', name };
  throw new UsageError(`${arg}: ${kind} is not vmfleet or goldenimage`);
}

/** One look at the cluster: the text (or JSON) to show, and whether anything is still moving. */
async function look(client: KubeClient, target: Target, namespace: string | undefined, defaultNamespace: string, output: StatusOutput, bar: boolean): Promise<{ text: string; busy: boolean }> {
  if (target.kind === 'fleets') {
    const fleets = (await client.list<VMFleet>(RESOURCES.vmFleet, namespace ? { namespace } : {})).items;
    const rows = fleets.map(fleetRow).sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
    return { text: output === 'json' ? `${JSON.stringify({ fleets: rows }, null, 2)}\n` : renderFleets(rows, namespace === undefined), busy: rows.some((r) => r.busy) };
  }
  const ns = namespace ?? defaultNamespace;
  if (target.kind === 'image') {
    const image = await client.get<GoldenImage>(RESOURCES.goldenImage, { namespace: ns, name: target.name });
    if (!image) throw new UsageError(`GoldenImage ${ns}/${target.name} not found`);
    const importing = (image.status?.versions ?? []).some((v) => v.phase === 'Importing');
    return { text: output === 'json' ? `${JSON.stringify({ goldenImage: { namespace: ns, name: target.name, status: image.status ?? {} } }, null, 2)}\n` : renderImage(image), busy: importing };
  }
  const fleet = await client.get<VMFleet>(RESOURCES.vmFleet, { namespace: ns, name: target.name });
  if (!fleet) throw new UsageError(`VMFleet ${ns}/${target.name} not found`);
  const [vms, vmis, migrations] = await Promise.all([
    client.list<V1VirtualMachine>(RESOURCES.vm, { namespace: ns }),
    client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: ns }),
    client.list<Migration>(RESOURCES.vmim, { namespace: ns }),
  ]);
  const row = fleetRow(fleet);
  const rows = vmRows(ownedVMs(vms.items, fleet), vmis.items, migrations.items, fleet.status?.updateRevision);
  return { text: output === 'json' ? `${JSON.stringify({ fleet: row, vms: rows }, null, 2)}\n` : renderFleet(row, rows, bar), busy: row.busy };
}

const CLEAR = '\x1b[H\x1b[2J';

export async function statusCommand(target: string | undefined, flags: StatusFlags, stop: AbortSignal): Promise<void> {
  const interval = Number(flags.interval);
  if (!Number.isFinite(interval) || interval < 0.2) throw new UsageError(`--interval ${flags.interval}: seconds, at least 0.2`);
  const what = targetOf(target);
  const cluster = connect(flags);
  const tty = process.stdout.isTTY === true && flags.output === 'table';
  let last = '';
  for (;;) {
    const { text, busy } = await look(cluster.client, what, cluster.namespace, cluster.defaultNamespace, flags.output, tty && !!flags.watch);
    if (!flags.watch) {
      process.stdout.write(text);
      return;
    }
    // A terminal is redrawn in place; a pipe or file gets the view again only when it changed.
    if (tty) process.stdout.write(`${CLEAR}${text}\n${busy ? 'a rollout or migration is under way' : 'settled'}; every ${interval}s, Ctrl-C to stop\n`);
    else if (text !== last) process.stdout.write(`${last ? '\n' : ''}${new Date().toISOString()}\n${text}`);
    last = text;
    if (stop.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, interval * 1000);
      stop.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
    if (stop.aborted) return;
  }
}

export async function status(target: string | undefined, flags: StatusFlags): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await statusCommand(target, flags, stop.signal);
  } catch (err) {
    let server = 'the configured cluster';
    try {
      server = connect(flags).server;
    } catch {
      // the error below says what is wrong with the configuration
    }
    console.error(`error: ${describeError(err, server)}`);
    process.exitCode = 2;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
